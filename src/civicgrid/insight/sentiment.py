"""The tone of a citizen's message (情感倾向), from −1 (angry, desperate) to +1 (grateful),
with the words that set it.

A lexicon written for messages to the government, not product reviews: complaints name a
problem ("扰民", "推诿", "乱收费") without being furious, so problem words weigh less than
feelings ("愤怒", "失望", "忍无可忍"); thanks and praise ("感谢", "及时", "负责") are what
make a message positive. A degree word right before a word strengthens it ("非常不满",
"特别感谢"); a negation right before it turns it round ("不满意", "没有解决", "不及时" are
negative, "不再扰民" is not). Repeated exclamation marks add anger. The sum is squashed
with tanh, so a few strong words reach about −0.8 and a long list cannot pass −1.

Fast (plain substring search, no segmentation): intake scores every report with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _words(weight: float, text: str) -> dict[str, float]:
    return dict.fromkeys(text.split(), weight)


# Feelings count most, then judgements of how officials behave, then the problem itself.
NEGATIVE: dict[str, float] = {
    **_words(
        -1.0,
        "愤怒 气愤 愤慨 忍无可忍 无法忍受 难以忍受 欺人太甚 太过分 岂有此理 寒心 心寒 绝望 "
        "走投无路 痛心 崩溃 失望 极度不满 强烈不满 投诉无门 求助无门 草菅人命",
    ),
    **_words(
        -0.6,
        "不满 不作为 乱作为 推诿 推脱 踢皮球 敷衍 搪塞 拖延 无人管 没人管 无人问津 置之不理 "
        "不理不睬 石沉大海 欺骗 欺诈 坑害 刁难 野蛮 霸道 违法 违规 乱收费 克扣 拖欠 黑心 "
        "恶劣 可恶 荒唐 离谱 无奈 苦不堪言 焦虑 担忧 害怕 恐惧 委屈 抗议 谴责",
    ),
    **_words(
        -0.3,
        "投诉 举报 扰民 噪音 污染 恶臭 脏乱差 堵塞 隐患 危险 严重 损害 影响生活 影响休息 "
        "困扰 麻烦 问题 难 差 破损 坏了 漏水 积水 停水 停电 刺耳 粉尘 烟尘 臭味 吵闹 "
        "睡不着 无法入睡 乱象 侵占 私自 违章",
    ),
}
POSITIVE: dict[str, float] = {
    **_words(
        1.0,
        "衷心感谢 致敬 点赞 好评 表扬 赞扬 锦旗 为民办实事 辛苦了 暖心 贴心 满意",
    ),
    **_words(0.6, "解决了 已解决 得到解决 好转 热心 热情 周到 耐心"),
    **_words(0.3, "及时 迅速 高效"),
    # Politeness: nearly every letter ends with thanks, complaints included.
    **_words(0.15, "感谢 谢谢 感激"),
}
# Neutral said plainly ("希望尽快处理" asks, "方便市民" argues for a proposal, "负责人" is a
# person); a complaint turned round ("没有解决", "一直不回复", "很不方便", "不负责").
UNMET: dict[str, float] = _words(
    -0.6, "解决 处理 落实 回复 答复 整改 查处 方便 改善 放心 安心 支持 满足 负责 认真"
)
DEGREE: dict[str, float] = {
    **_words(2.0, "极其 极度 非常 特别 十分 万分 太 严重 强烈 实在 简直"),
    **_words(1.5, "很 真 挺 相当 越来越 一直 总是 多次 反复 屡次"),
    **_words(0.6, "有点 有些 稍微 略"),
}
NEGATIONS = ("不再", "没有", "没", "不", "无", "未", "别", "非")
SCALE = 2.0  # tanh(sum / SCALE): two strong feelings give about −0.76
NEGATIVE_FROM = -0.2
POSITIVE_FROM = 0.2


@dataclass(frozen=True)
class Sentiment:
    score: float  # −1 to 1
    label: str  # "negative", "neutral" or "positive"
    words: tuple[str, ...]  # the words that set it, as written ("非常不满", "不及时")


class LexiconSentiment:
    def __init__(
        self,
        negative: dict[str, float] = NEGATIVE,
        positive: dict[str, float] = POSITIVE,
        unmet: dict[str, float] = UNMET,
    ) -> None:
        lexicon = {**unmet, **negative, **positive}
        self._unmet = frozenset(unmet)
        # Longest first, so "强烈不满" is read before "不满" and the shorter one inside it
        # is not counted again.
        self._entries = sorted(lexicon.items(), key=lambda item: -len(item[0]))

    def score(self, text: str) -> Sentiment:
        taken = [False] * len(text)
        total = 0.0
        words: list[tuple[int, str]] = []
        for word, weight in self._entries:
            start = text.find(word)
            while start >= 0:
                end = start + len(word)
                if not any(taken[start:end]):
                    for i in range(start, end):
                        taken[i] = True
                    value, written = _in_context(text, start, word, weight, word in self._unmet)
                    if value:
                        total += value
                        words.append((start - (len(written) - len(word)), written))
                start = text.find(word, end)
        bangs = text.count("！！") + text.count("!!")
        if bangs:
            total -= 0.5 * min(bangs, 3)
            words.append((text.find("！！") if "！！" in text else text.find("!!"), "！！"))
        score = round(math.tanh(total / SCALE), 3)
        label = (
            "negative"
            if score <= NEGATIVE_FROM
            else "positive"
            if score >= POSITIVE_FROM
            else "neutral"
        )
        return Sentiment(score, label, tuple(w for _, w in sorted(words)))


def _in_context(text: str, start: int, word: str, weight: float, unmet: bool) -> tuple[float, str]:
    """WORD's weight as written: turned round by a negation right before it (a problem
    word then counts for nothing: "不再扰民"), strengthened by a degree word before that.
    An UNMET word counts only turned round."""
    before = text[max(0, start - 4) : start]
    written = word
    negated = next((n for n in NEGATIONS if before.endswith(n)), None)
    if negated is not None and not word.startswith(negated):
        before = before[: -len(negated)]
        written = negated + word
        if not unmet:
            weight = -weight * 0.8 if weight > 0 else 0.0 if weight > -0.5 else -weight * 0.3
    elif unmet:
        return 0.0, word
    degree = next((d for d in DEGREE if before.endswith(d)), None)
    if degree is not None:
        weight *= DEGREE[degree]
        written = degree + written
    return weight, written
