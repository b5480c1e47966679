"""Hot issues (热点问题): messages about the same concrete problem — the same place and the
same complaint, such as one estate's noise — grouped, titled and ranked by heat.

Two messages belong together when they name the same place and their words overlap
(cosine of character-bigram TF-IDF ≥ SAME_PLACE_SIMILARITY), or when they say nearly the
same thing (≥ SAME_TEXT_SIMILARITY) even without a place we recognise; groups are the
connected pairs. Heat adds, per message, 1 + ln(1 + likes), discounted by age with a
HALF_LIFE_DAYS half-life counted back from the newest message of the file, so a burst of
recent, supported messages outranks an old trickle.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

SAME_PLACE_SIMILARITY = 0.25
SAME_TEXT_SIMILARITY = 0.6
HALF_LIFE_DAYS = 30.0

# Concrete places: estates, roads, schools, markets… ("A市", "A3区" are too wide to group by).
PLACE = re.compile(
    r"([\u4e00-\u9fa5A-Za-z0-9·]{1,12}?"
    r"(?:小区|花园|家园|公寓|新村|社区|村|镇|乡|街道|大道|路|街|巷|学校|中学|小学|幼儿园|学院|"
    r"大学|医院|广场|市场|商场|公园|工地|项目|新城|城|苑|府|湾|庭|园|站|大厦|公司|厂))"
)
WIDE = re.compile(r"^(?:[A-Z]\d*[市区县省]|西地省|[A-Z]市[A-Z]\d*[区县])+")
# Words that start a title but name no place: "投诉小区…", "关于…".
LEAD = re.compile(
    r"^(?:投诉|举报|反映|关于|附近|周边|旁边|咨询|请问|建议|请求|要求|希望|强烈|恳请|请|在|对|的)+"
)
GENERIC = {
    *("小区", "社区", "街道", "学校", "医院", "公司", "工地"),
    *("项目", "市场", "本小区", "我们小区"),
}


@dataclass
class Post:
    id: str
    title: str
    text: str
    at: datetime | None
    likes: int = 0


@dataclass
class HotIssue:
    title: str
    place: str
    first: datetime | None
    last: datetime | None
    heat: float
    posts: list[Post] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.posts)

    @property
    def likes(self) -> int:
        return sum(p.likes for p in self.posts)


def place_of(post: Post) -> str:
    """The most specific place the title (else the text's start) names, without the city
    and district prefix; "" when none."""
    for source in (post.title, post.text[:120]):
        found = []
        for match in PLACE.finditer(source):
            name = LEAD.sub("", WIDE.sub("", match.group(1)))
            if len(name) >= 3 and name not in GENERIC and not name[0].isdigit():
                found.append(name)
        if found:
            return found[0]
    return ""


def hot_issues(
    posts: Sequence[Post], *, min_posts: int = 2, half_life_days: float = HALF_LIFE_DAYS
) -> list[HotIssue]:
    """Groups of at least MIN_POSTS messages about one problem, hottest first."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not posts:
        return []
    texts = [f"{p.title} {p.title} {p.text[:200]}" for p in posts]
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True).fit_transform(
        texts
    )
    similar = (vectors @ vectors.T).tocoo()
    places = [place_of(p) for p in posts]
    parent = list(range(len(posts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, value in zip(similar.row, similar.col, similar.data, strict=True):
        if i >= j:
            continue
        same_place = places[i] and places[i] == places[j]
        if value >= SAME_TEXT_SIMILARITY or (same_place and value >= SAME_PLACE_SIMILARITY):
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(posts)):
        groups.setdefault(root(i), []).append(i)
    dated = [p.at for p in posts if p.at is not None]
    newest = max(dated) if dated else None
    issues = []
    for members in groups.values():
        if len(members) < min_posts:
            continue
        group = [posts[i] for i in members]
        times = [p.at for p in group if p.at is not None]
        named = Counter(places[i] for i in members if places[i])
        issues.append(
            HotIssue(
                title=_title(group),
                place=named.most_common(1)[0][0] if named else "",
                first=min(times) if times else None,
                last=max(times) if times else None,
                heat=round(sum(_heat(p, newest, half_life_days) for p in group), 2),
                posts=sorted(group, key=lambda p: (-p.likes, p.at or datetime.min)),
            )
        )
    issues.sort(key=lambda issue: -issue.heat)
    return issues


def _heat(post: Post, newest: datetime | None, half_life_days: float) -> float:
    weight = 1 + math.log1p(max(post.likes, 0))
    if newest is None or post.at is None:
        return weight
    age_days = (newest - post.at).total_seconds() / 86400
    return weight * 0.5 ** (age_days / half_life_days)


def _title(group: Sequence[Post]) -> str:
    """The title of the message most like the others (the group's centre)."""
    if len(group) <= 2:
        return max(group, key=lambda p: p.likes).title
    words = [set(_bigrams(p.title)) for p in group]
    shared = np.array(
        [sum(len(a & b) / max(1, len(a | b)) for b in words) for a in words], dtype=float
    )
    return group[int(shared.argmax())].title


def _bigrams(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)]
