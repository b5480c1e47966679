"""Reply quality (答复质量): how well a department's reply answers a citizen's message.

Four sub-scores, each 0–1, and a total 0–100, each with the words that drove it:

- **relevance** — does the reply talk about what was asked? Cosine of character 2–3-gram
  TF-IDF vectors (fitted on the questions and replies being scored) between the question
  and the reply's own words (boilerplate removed), scaled so RELEVANCE_FULL counts as fully
  relevant, blended with the share of the question's key words (its place first) that the
  reply repeats.
- **completeness** — is every point answered? The question's sentences that ask or demand
  something (请问, 为什么, 能否, 希望, 要求, "？"…) are its points; a point counts as answered
  when the reply repeats enough of its key words. Blended with the length of the reply's
  own words (nothing but boilerplate answers nothing).
- **concreteness** — does it say what was done, by whom, when? Dates, figures with units,
  telephone numbers, named units (局, 街道, 公司…), actions taken (已责成, 拆除, 维修…), what
  the writer can do (可向…申请, 由…负责, 不受…限制) and the legal basis (《…》, 根据…规定)
  each add; it saturates (1 − e^(−points/3)).
- **timeliness** — working days from the question to the reply: full up to
  TIMELY_WORKING_DAYS, falling linearly to 0 at LATE_WORKING_DAYS (about 30 calendar days).
  Unknown when either time is missing; the total is then the mean of the other three.

Total = 100 × (0.25 relevance + 0.25 completeness + 0.30 concreteness + 0.20 timeliness).

Boilerplate (套话) — greetings, "留言已收悉", "感谢您的关注", "已转相关部门", "现将…答复如下",
the date that signs the reply — is removed before the words are counted, so a reply made of
nothing else scores 0 on completeness and concreteness whatever its length.

Checked on ../shared/data/teddy2020/messages_with_replies.csv (2,816 messages with the
official replies; `civicgrid insight replies --input …`): mean 51.3, median 54.0; 6% below
20, 21% 20–39, 36% 40–59, 33% 60–79, 4% from 80. The 91 replies with nothing but
boilerplate ("网友：您好！留言已收悉", "感谢您对我们工作的关心、监督与支持。") all score 23 or
less; the 175 short ones that pass the question on ("已转县教育局") average 23 (0–42). The
124 from 80 up were all answered within 13 working days; seven in ten name a date, one in
three a phone number, and they say who went where, what was found and what will be done
("已于2019年5月9日…责成…立案查处", "依据《中华人民共和国大气污染防治法》"). Equally concrete
replies (concreteness above 0.8) average 74.6 when they came within five working days and
55.2 after forty. Twelve rows read from each quartile were in the order a reader would put
them; the scores' rank correlation with the replies' length is 0.64, so length helps but
does not decide. Known blind spots: an answer in other words than the question's
(synonyms) gets less relevance than it deserves; a short, correct policy answer ("直系亲属
之间的赠予，不受限购政策限制") without dates or units scores in the thirties; public
holidays count as working days.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from civicgrid.core.i18n import Locale, translate
from civicgrid.insight.hot import Post, place_of

WEIGHTS = {"relevance": 0.25, "completeness": 0.25, "concreteness": 0.30, "timeliness": 0.20}
ASPECTS = tuple(WEIGHTS)
RELEVANCE_FULL = 0.30  # cosine at which a reply counts as fully on topic
TIMELY_WORKING_DAYS = 5
LATE_WORKING_DAYS = 22
FULL_LENGTH = 150  # characters of the reply's own words for a full length share
MIN_OWN_WORDS = 12  # fewer own characters than this: the reply is bare boilerplate
KEY_WORDS = 6
# Share of a point's word weight (character bigrams, by rarity) the reply must repeat for
# the point to count as answered; less counts in proportion.
POINT_COVERED = 0.35
CLIP = 2000  # characters of a text compared: the start says what it is about

# Whatever is said to every writer, whatever they asked.
BOILERPLATE = re.compile(
    "|".join(
        (
            r"(?:尊敬的)?网友[“\"「]?[\w\-]{0,24}[”\"」]?\s*[:：，,]?\s*(?:你|您)好[！!，,。.：:]?",
            r"[“\"「][\w\-]{0,24}[”\"」]\s*(?:网友)?\s*[:：，,]?\s*(?:你|您)好[！!，,。.：:]?",
            r"^\s*[“\"「][A-Za-z0-9_\-]{1,24}[”\"」]\s*(?:网友)?\s*[:：，,]?",
            r"(?:你|您)好[！!，,。.：:]",
            r"现将[^。！!]{0,80}?(?:答复|回复)如下[:：，,]?",
            r"(?:您|你)?(?:的|所)?(?:留言|来信|发帖|网贴|帖子|反映的问题|反映的情况|问题)"
            r"(?:[^。！!，,]{0,30})?(?:已|我[局委办区县市镇]已)?收悉[。！!，,]?",
            r"已收悉[。！!，,]?",
            r"(?:首先|再次|非常|十分)?感谢(?:您|你)(?:对|的)[^。！!]{0,24}[。！!，,]?",
            r"(?:谢谢|多谢)(?:您|你)?(?:的)?(?:关注|支持|理解|留言|来信)?[！!。，,]?",
            r"(?:已|将)?转(?:交|至|给|到)?(?:有关|相关)(?:部门|单位)[^。！!]{0,24}[。！!，,]?",
            r"我们将(?:及时|迅速|积极|认真)[^。！!]{0,24}[。！!，,]?",
            r"(?:欢迎|请)(?:您)?(?:继续)?(?:监督|关注)[^。！!]{0,12}[。！!，,]?",
            r"祝(?:您|你)[^。！!]{0,12}[。！!，,]?",
            r"(?:\d{4}年)?\d{1,2}月\d{1,2}日\s*$",
        )
    )
)
UNIT_SUFFIXES = (
    "局|委员会|办公室|办事处|街道办|街道|社区|居委会|村委会|政府|公司|中心|大队|中队|派出所|"
    "管理所|事务所|医院|分局|支队|管理处|管理站|工作站|服务站|执法站|监测站"
)
# The question's points: sentences that ask, demand or propose.
ASKING = re.compile(
    r"[？?]|吗|呢|请问|为什么|为何|怎么|怎样|如何|是否|能否|可否|能不能|可不可以|何时|多久|多少|"
    r"哪里|哪个|希望|要求|请求|恳请|建议|请(?:有关|相关)?(?:部门|领导|政府)|尽快|解决"
)
SENTENCE_END = re.compile(r"[。！!？?；;\n]+")
MARKERS: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    ("date", 1.0, re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}")),
    (
        "figure",
        0.7,
        re.compile(
            r"\d+(?:\.\d+)?\s*(?:万元|元|万|米|公里|平方米|平方|亩|户|人|名|天|个月|次|辆|"
            r"处|栋|套|吨|%|％|条|台|个|项|起|件|小时|分钟|周|年内|年以上|周岁|岁)"
        ),
    ),
    (
        "phone",
        1.5,
        re.compile(r"0\d{2,3}\s*[-—－]\s*(?:\d{4}[-—－])?\d{7,8}|(?<!\d)1[3-9]\d{9}(?!\d)"),
    ),
    (
        "unit",
        0.6,
        re.compile(f"[\u4e00-\u9fa5A-Z0-9]{{2,14}}?(?:{UNIT_SUFFIXES})"),
    ),
    (
        "action",
        1.0,
        re.compile(
            r"已(?:经)?(?:安排|责成|要求|督促|完成|整改|清理|清运|拆除|修复|维修|更换|处罚|罚款|"
            r"查处|立案|约谈|下达|下发|落实|解决|办理|恢复|补办|发放|退还|协调|制定|启动|"
            r"组织|开展|关停|取缔|暂扣|封堵|疏通|硬化|安装)|"
            r"(?:现场|实地)(?:查看|勘察|核查|检查|调查)|责令|责成|立案查处|限期|"
            r"(?:将于|预计|计划|拟于|争取)[^，。,；;]{0,16}(?:完成|开工|竣工|实施|建成|解决|到位)|"
            r"(?:开工|竣工|完工|通车|投入使用|上线|开通)"
        ),
    ),
    (
        "guidance",
        1.0,
        re.compile(
            r"(?:可以|可|需|须|应当|应|请)(?:携带|持|到|向|前往|致电|拨打|申请|办理|提起|咨询|"
            r"提供|留存|找|通过|登录|凭)|不受[^，。,；;]{1,20}限制|由[^，。,；;]{2,16}负责|"
            r"符合[^，。,；;]{1,20}(?:条件|规定)"
        ),
    ),
    (
        "law",
        1.5,
        re.compile(
            r"《[^》]{2,40}》|第[一二三四五六七八九十百\d]+条|"
            r"(?:根据|依据|按照)[^，。,；;]{2,30}(?:规定|办法|条例|法|政策|文件|标准|通知)"
        ),
    ),
)
# Characters that end the words before a unit's name: "立即与县住建局" names 县住建局,
# "18日通过A7县规划局" names A7县规划局.
UNIT_CUT = re.compile(r"[的了在与及对向由到过据从是将已并日月年后即为把被等该其于也要求请我照果转]")
UNIT_SUFFIX = re.compile(f"(?:{UNIT_SUFFIXES})$")
STOPWORD_TEXT = (
    "我们 你们 他们 这个 那个 现在 已经 没有 问题 情况 反映 请问 希望 要求 领导 部门 相关 有关 "
    "政府 您好 你好 谢谢 什么 为什么 怎么 如何 是否 可以 能否 一个 一直 还是 就是 但是 因为 所以 "
    "如果 而且 这样 这些 那些 进行 工作 关于 咨询 请求 建议 解决 尽快 一下 目前 至今 今年 去年 "
    "本人 我家 自己 大家 非常 严重 影响 市民 群众 居民 网友 留言 答复 回复 的话 时间 多少 哪里 "
    "能不能 可不可以 尊敬 领导们 各位"
)
STOPWORDS = frozenset(STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Exchange:
    """A question (title and text) and the reply it got, with when each was written."""

    title: str
    question: str
    reply: str
    asked_at: datetime | None = None
    replied_at: datetime | None = None


@dataclass(frozen=True)
class Reason:
    """Why a sub-score is what it is: KIND names the finding (translated as
    `reply.reason.<kind>`), DETAIL the words, phrases or figure behind it."""

    kind: str
    detail: str = ""


@dataclass
class ReplyScore:
    relevance: float
    completeness: float
    concreteness: float
    timeliness: float | None  # None: a time is missing
    total: float  # 0–100
    reasons: dict[str, list[Reason]] = field(default_factory=dict)
    working_days: int | None = None

    def sub_scores(self) -> dict[str, float | None]:
        return {aspect: getattr(self, aspect) for aspect in ASPECTS}


class ReplyScorer:
    """Scores exchanges; fitted on the exchanges it will score (their vocabulary and word
    weights), so that words every reply uses count for little."""

    def __init__(self) -> None:
        self._vectorizer: Any = None
        self._idf: dict[str, float] = {}
        self._bigram_idf: dict[str, float] = {}

    def fit(self, exchanges: Sequence[Exchange]) -> ReplyScorer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        questions = [_question(e) for e in exchanges]
        replies = [own_words(e.reply) for e in exchanges]
        # The vectorizer refuses a corpus without one pair of characters (no cases, or
        # answers of one character): a pair of its own stands in, matching nothing.
        corpus = [text for text in questions + replies if len(text.strip()) > 1] or ["--"]
        vectorizer = TfidfVectorizer(
            analyzer="char", ngram_range=(2, 2), sublinear_tf=True, min_df=1
        )
        vectorizer.fit([text[:CLIP] for text in corpus])
        self._vectorizer = vectorizer
        self._bigram_idf = {
            term: float(weight)
            for term, weight in zip(
                vectorizer.get_feature_names_out(), vectorizer.idf_, strict=True
            )
        }
        # Word weights for the key words of a question: rare words tell its subject.
        documents = [set(_words(q)) for q in questions]
        counts: dict[str, int] = {}
        for words in documents:
            for word in words:
                counts[word] = counts.get(word, 0) + 1
        n = max(1, len(documents))
        self._idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in counts.items()}
        return self

    def score_all(self, exchanges: Sequence[Exchange]) -> list[ReplyScore]:
        if self._vectorizer is None:
            self.fit(exchanges)
        if not exchanges:
            return []
        vectorizer = self._vectorizer
        questions = [_question(e) for e in exchanges]
        owns = [own_words(e.reply) for e in exchanges]
        q = vectorizer.transform([t[:CLIP] for t in questions])
        r = vectorizer.transform([t[:CLIP] for t in owns])
        cosines = np.asarray(q.multiply(r).sum(axis=1)).ravel()
        return [
            self._score(e, own, float(cos))
            for e, own, cos in zip(exchanges, owns, cosines, strict=True)
        ]

    def score(self, exchange: Exchange) -> ReplyScore:
        return self.score_all([exchange])[0]

    # ------------------------------------------------------------------ one exchange

    def _score(self, exchange: Exchange, own: str, cosine: float) -> ReplyScore:
        reasons: dict[str, list[Reason]] = {aspect: [] for aspect in ASPECTS}
        canned = boilerplate_of(exchange.reply)
        bare = len(own) < MIN_OWN_WORDS
        relevance = self._relevance(exchange, own, cosine, reasons["relevance"])
        if bare:
            completeness = concreteness = 0.0
            note = (
                Reason("boilerplate_only", "、".join(canned[:3]) or _clip(exchange.reply, 20))
                if exchange.reply.strip()
                else Reason("no_reply")
            )
            reasons["completeness"].append(note)
            reasons["concreteness"].append(note)
        else:
            completeness = self._completeness(exchange, own, reasons["completeness"])
            concreteness = _concreteness(own, reasons["concreteness"])
            if canned:
                reasons["concreteness"].append(Reason("boilerplate", "、".join(canned[:3])))
        days = working_days(exchange.asked_at, exchange.replied_at)
        timeliness = _timeliness(days, reasons["timeliness"])
        values = {
            "relevance": relevance,
            "completeness": completeness,
            "concreteness": concreteness,
            "timeliness": timeliness,
        }
        known = {k: v for k, v in values.items() if v is not None}
        weight = sum(WEIGHTS[k] for k in known)
        total = 100 * sum(WEIGHTS[k] * v for k, v in known.items()) / weight
        return ReplyScore(
            relevance=round(relevance, 3),
            completeness=round(completeness, 3),
            concreteness=round(concreteness, 3),
            timeliness=None if timeliness is None else round(timeliness, 3),
            total=round(total, 1),
            reasons=reasons,
            working_days=days,
        )

    def _relevance(
        self, exchange: Exchange, own: str, cosine: float, reasons: list[Reason]
    ) -> float:
        # The title says in a few words what the message is about; its text adds the rest.
        keys = self._key_words(exchange.title)[:3]
        keys += [k for k in self._key_words(exchange.question) if k not in keys]
        place = place_of(Post("", exchange.title, exchange.question, None))
        if len(place) > 8:  # a clause, not a name
            place = ""
        if place:
            keys = [place, *[k for k in keys if k not in place and place not in k]]
        keys = keys[:KEY_WORDS]
        said = [k for k in keys if k in own]
        missed = [k for k in keys if k not in own]
        if place and place in own:
            reasons.append(Reason("place", place))
        shared = [k for k in said if k != place]
        if shared:
            reasons.append(Reason("shared", "、".join(shared)))
        if missed:
            reasons.append(Reason("missed", "、".join(missed[:4])))
        coverage = len(said) / len(keys) if keys else 0.0
        similarity = min(1.0, cosine / RELEVANCE_FULL)
        return 0.6 * similarity + 0.4 * coverage

    def _completeness(self, exchange: Exchange, own: str, reasons: list[Reason]) -> float:
        points = question_points(exchange)
        said = set(_bigrams(own))
        covers, masses, unanswered = [], [], []
        for point in points:
            weights = {b: self._bigram_idf.get(b, 1.0) for b in _bigrams(point)}
            mass = sum(weights.values())
            found = sum(w for b, w in weights.items() if b in said)
            cover = min(1.0, found / mass / POINT_COVERED) if mass else 0.0
            covers.append(cover)
            masses.append(mass)
            if cover < 1.0:
                unanswered.append(point)
        # Points of nothing but punctuation or single characters weigh nothing.
        weight = sum(masses)
        share = sum(c * m for c, m in zip(covers, masses, strict=True)) / weight if weight else 0.0
        answered = len(points) - len(unanswered)
        reasons.append(Reason("points", f"{answered}/{len(points)}"))
        for point in unanswered[:2]:
            reasons.append(Reason("unanswered", _clip(point, 30)))
        length = min(1.0, len(own) / FULL_LENGTH)
        if length < 1.0:
            reasons.append(Reason("short", str(len(own))))
        return 0.7 * share + 0.3 * length

    def _key_words(self, text: str) -> list[str]:
        """The words of TEXT by TF-IDF weight: what it repeats and other messages do not
        say (a one-off idiom is rare but says little about the subject)."""
        counts = Counter(_words(text))
        return sorted(counts, key=lambda w: -counts[w] * self._idf.get(w, 1.0) * min(len(w), 4))


# ------------------------------------------------------------------ pieces


def own_words(reply: str) -> str:
    """The reply without its boilerplate: what it says to this writer alone."""
    return re.sub(r"\s+", " ", BOILERPLATE.sub(" ", reply)).strip()


def boilerplate_of(reply: str) -> list[str]:
    return [m.group(0).strip(" ，,。！!：:") for m in BOILERPLATE.finditer(reply) if m.group(0)]


def question_points(exchange: Exchange) -> list[str]:
    """The sentences that ask or demand something; the title when none does."""
    sentences = [s.strip() for s in SENTENCE_END.split(exchange.question) if len(s.strip()) >= 4]
    points = [s for s in sentences if ASKING.search(s)]
    if not points:
        # A title without two characters of words ("急！", "投诉") says nothing to answer.
        title = exchange.title.strip()
        worded = len(re.sub(r"[^\w]+", "", title)) >= 2
        points = [title if worded or not sentences else sentences[0]]
    return [p for p in dict.fromkeys(points) if p][:6]


def working_days(asked: datetime | None, replied: datetime | None) -> int | None:
    """Monday-to-Friday days from the question's day to the reply's (public holidays are
    not known here and count as working days)."""
    if asked is None or replied is None:
        return None
    start, end = _day(asked), _day(replied)
    if end < start:
        return 0
    return int(np.busday_count(start, end))


def _day(moment: datetime) -> date:
    return moment.date()


def _timeliness(days: int | None, reasons: list[Reason]) -> float | None:
    if days is None:
        reasons.append(Reason("no_time"))
        return None
    reasons.append(Reason("working_days", str(days)))
    if days <= TIMELY_WORKING_DAYS:
        return 1.0
    if days >= LATE_WORKING_DAYS:
        return 0.0
    return 1 - (days - TIMELY_WORKING_DAYS) / (LATE_WORKING_DAYS - TIMELY_WORKING_DAYS)


def _concreteness(own: str, reasons: list[Reason]) -> float:
    points = 0.0
    for kind, weight, pattern in MARKERS:
        found = list(dict.fromkeys(m.group(0).strip() for m in pattern.finditer(own)))
        if kind == "unit":
            found = list(dict.fromkeys(u for f in found if len(u := _unit_name(f)) >= 3))
        if not found:
            continue
        # The first of a kind counts fully, more of it a little: one date is a fact, ten
        # dates are not ten times as concrete.
        points += weight * (1 + 0.25 * min(len(found) - 1, 4))
        reasons.append(Reason(kind, "、".join(_clip(f, 24) for f in found[:3])))
    return 1 - math.exp(-points / 3)


def _bigrams(text: str) -> list[str]:
    """Character pairs of the Chinese, letters and digits (no punctuation or spaces)."""
    kept = re.sub(r"[^\w]+", "", text[:CLIP])
    return [kept[i : i + 2] for i in range(len(kept) - 1)]


def _unit_name(found: str) -> str:
    suffix = UNIT_SUFFIX.search(found)
    cut = suffix.start() if suffix else len(found)
    return UNIT_CUT.split(found[:cut])[-1] + found[cut:]


def _question(exchange: Exchange) -> str:
    return f"{exchange.title} {exchange.title} {exchange.question}".strip()


def _words(text: str) -> list[str]:
    import rjieba

    return [
        w
        for w in rjieba.cut(text)
        if len(w) >= 2 and w not in STOPWORDS and not w.isdigit() and not _is_wide_place(w)
    ]


def _is_wide_place(word: str) -> bool:
    """ "A市", "A3区": too wide to tell what the message is about."""
    return bool(re.fullmatch(r"[A-Z]\d*[市区县省]?|西地省", word))


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def reason_text(reason: Reason, locale: Locale = "zh") -> str:
    return translate(f"reply.reason.{reason.kind}", locale, {"detail": reason.detail})


def reasons_text(reasons: Sequence[Reason], locale: Locale = "zh") -> str:
    return "；".join(reason_text(r, locale) for r in reasons)


def score_replies(exchanges: Sequence[Exchange]) -> list[ReplyScore]:
    """Score every exchange with a scorer fitted on all of them."""
    return ReplyScorer().fit(exchanges).score_all(exchanges)


def distribution(totals: Sequence[float]) -> dict[str, int]:
    """How many totals fall in each band of 20 points: "0–19", …, "80–100"."""
    bands = {"0–19": 0, "20–39": 0, "40–59": 0, "60–79": 0, "80–100": 0}
    names = list(bands)
    for total in totals:
        bands[names[min(4, int(total // 20))]] += 1
    return bands
