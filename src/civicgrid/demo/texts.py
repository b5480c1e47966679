"""What the demo's reports and replies say: written as residents, 12345 agents, grid workers
and devices put problems into words, and as units answer them, well or badly.

Reports come in styles (an agent's work order, colloquial speech, an angry complaint,
regional turns of phrase, a long letter, a line typed in a hurry, a patrol note, a device's
alarm; frames.toml) chosen by channel, filled with each category's own words (reports.toml):
several phrasings per category, reports that fit two categories (filed under either, as
dispatchers would), and typing slips (homophones, pinyin). Titles are written as people
write them, never the category's name, so the category model has to read the text.

Replies (replies.toml) are good (they name the place and the problem, say who went, what
was found, what was done and when, and what the reporter can do next), partial, vague
boilerplate, or about something else; how often each comes depends on the unit, so
units' reply quality differs as it does in a real city.

Everything is drawn from one random generator seeded by the demo's seed: the same seed
writes the same texts."""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from civicgrid.core.i18n import city_day

DATA = Path(__file__).parent / "data"
TIME_ZONE = "Asia/Shanghai"
# Share of a category's reports written in words that fit another category as well.
AMBIGUOUS = 0.3
# Share written in words that fit any category of its group ("脏乱差", "设施坏了").
VAGUE = 0.12
# Share of titles that say nothing about the problem ("投诉", "求助").
BLANK_TITLES = 0.12
BLANK_TITLE_WORDS = [
    "投诉",
    "求助",
    "反映问题",
    "急！",
    "来电反映",
    "市民诉求",
    "请帮忙",
    "问题反映",
]
# What a spoken report opens with, not what it is about.
GREETING = re.compile(r"^(?:你好|您好|喂|我跟你说|各位领导好|就是)")
# Chance that a report of each style carries typing slips.
SLIPS = {"agent": 0.05, "grid": 0.08, "sensor": 0.0, "long": 0.2}
SLIPS_DEFAULT = 0.35
PINYIN = 0.05
# How units reply: each unit's care (0–1) is drawn once; good replies come that often, the
# rest are partial, vague or off the topic in these shares.
CARE = (2.0, 1.4)  # beta distribution
OTHERWISE = {"partial": 0.45, "vague": 0.4, "off_topic": 0.15}


@dataclass(frozen=True)
class Where:
    """The names near a grid: its community, an estate, the road and a door number on it."""

    community: str
    estate: str
    road: str
    door: str


@dataclass(frozen=True)
class Written:
    """A report as written, with the parts a reply repeats."""

    title: str
    description: str
    place: str  # where, as the report says it ("" when it names no place)
    subject: str  # what it is about in a few words
    problem: str  # the clause saying what is wrong
    ask: str  # what the reporter wants
    category: str  # the category code it was written for
    style: str


@cache
def _data(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as handle:
        return tomllib.load(handle)


class DemoTexts:
    """Writes reports and replies from SEED about places near GRIDS (code, name; in the
    registry's order) and answers in the names of the units (UNIT_NAMES by code);
    remembers each case's report for its reply."""

    def __init__(
        self,
        seed: int,
        unit_names: Mapping[str, str] | None = None,
        grids: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.rng = random.Random(f"civicgrid-demo-texts-{seed}")
        self.seed = seed
        self.frames = _data("frames.toml")
        self.reports = _data("reports.toml")
        self.replies = _data("replies.toml")
        self.unit_names = dict(unit_names or {})
        self.written: dict[int, Written] = {}
        self.nearby = {code: where_near(i, name) for i, (code, name) in enumerate(grids)}
        self._care: dict[str, float] = {}
        self._ambiguous: dict[str, list[dict[str, Any]]] = {}
        for entry in self.reports.get("ambiguous", []):
            for code in entry["categories"]:
                self._ambiguous.setdefault(code, []).append(entry)

    # ------------------------------------------------------------------ reports

    def report(self, category: str, channel: str, grid: str, at: datetime) -> Written:
        """A report of CATEGORY (a leaf code) coming in by CHANNEL about a place in GRID
        (its code), written at AT."""
        where = self.nearby.get(grid) or where_near(len(self.nearby), f"{grid}社区")
        return self._report(category, channel, where, at)

    def _report(self, category: str, channel: str, where: Where, at: datetime) -> Written:
        rng = self.rng
        own = self._category(category)
        style = _weighted(rng, self.frames["channel_styles"].get(channel, {"web": 1}))
        words: dict[str, Any] = own
        group = self._group(category)
        if category in self._ambiguous and rng.random() < AMBIGUOUS:
            words = {**own, **rng.choice(self._ambiguous[category])}
        elif group.get("problem") and rng.random() < VAGUE:
            words = {**own, "title": group["title"], "problem": group["problem"]}
        if style == "sensor" and not own.get("sensor"):
            style = "grid"
        place = self._place(rng.choice(own.get("places") or ["none"]), where)
        problem = rng.choice(words["problem"])
        subject = rng.choice(words["title"])
        slots = self._slots(category, where, at)
        slots.update(place=place, problem=problem, short=rng.choice(own.get("sensor") or [""]))
        if style == "short":
            text = rng.choice(own.get("short") or ["{place}{problem}"]).format_map(_Blank(slots))
            if rng.random() < 0.4:
                text += rng.choice(["", "，", "！", "。", "？", "…"]) + slots["detail"]
        else:
            text = rng.choice(self.frames["styles"][style]).format_map(_Blank(slots))
        text = self._slips(text, style)
        title = self._title(style, place, subject, text)
        return Written(
            title=title,
            description=text,
            place=place,
            subject=subject,
            problem=problem,
            ask=slots["ask"],
            category=category,
            style=style,
        )

    def _category(self, code: str) -> dict[str, Any]:
        categories = self.reports["categories"]
        if code in categories:
            return dict(categories[code])
        # A category of a city's own taxonomy that the demo has no words for: its code.
        return {"places": ["none"], "title": [code], "problem": [code]}

    def _group(self, code: str) -> dict[str, Any]:
        groups: dict[str, Any] = self.reports["groups"]
        return dict(groups.get(code[:2], {}))

    def _slots(self, category: str, where: Where, at: datetime) -> dict[str, Any]:
        rng = self.rng
        own, group = self._category(category), self._group(category)
        generic = self.frames["slots"]
        day = city_day(at, TIME_ZONE) - timedelta(days=rng.randint(3, 45))
        date = rng.choice(generic["date"]).format(
            m=day.month, d=day.day, weekday=rng.choice(generic["weekdays"])
        )
        return {
            "since": rng.choice(generic["since"]),
            "when": rng.choice(generic["when"]),
            "history": rng.choice(generic["history"]),
            "date": date,
            "days": rng.randint(2, 12),
            "detail": rng.choice(own.get("detail") or group.get("detail") or generic["detail"])
            if rng.random() < 0.75
            else rng.choice(generic["detail"]),
            "ask": rng.choice(own.get("ask") or group.get("ask") or generic["ask"])
            if rng.random() < 0.6
            else rng.choice(generic["ask"]),
            "place": "",
            "estate": where.estate,
            "community": where.community,
        }

    def _place(self, kind: str, where: Where) -> str:
        rng = self.rng
        places = self.frames["places"]
        roads = places["roads"]
        pattern = rng.choice(places.get(kind) or places["none"])
        other = rng.choice(roads) + rng.choice(["路", "街", "大道"])
        if other == where.road:
            other = rng.choice(roads) + "巷"
        return str(
            pattern.format(
                estate=where.estate,
                community=where.community,
                road=where.road,
                door=where.door,
                road2=other,
                b=rng.randint(1, 24),
                u=rng.randint(1, 4),
                n=rng.randint(1, 9),
                river=rng.choice(places["rivers"]),
                site_name=rng.choice(places["site_names"]),
            )
        )

    def _slips(self, text: str, style: str) -> str:
        rng = self.rng
        typos = self.frames["typos"]
        if rng.random() < SLIPS.get(style, SLIPS_DEFAULT):
            present = [pair for pair in typos["homophones"] if pair[0] in text]
            for right, wrong in rng.sample(present, min(len(present), rng.randint(1, 2))):
                text = text.replace(right, wrong, 1)
        if style not in ("agent", "sensor") and rng.random() < PINYIN:
            present = [pair for pair in typos["pinyin"] if pair[0] in text]
            if present:
                right, wrong = rng.choice(present)
                text = text.replace(right, wrong, 1)
        return text

    def _title(self, style: str, place: str, subject: str, text: str) -> str:
        rng = self.rng
        if style == "sensor":
            return f"设备告警：{subject}"
        if rng.random() < BLANK_TITLES:
            return rng.choice(BLANK_TITLE_WORDS)
        short_place = place[:12]
        if style == "agent":
            patterns = ["{place}{subject}", "关于{place}{subject}的问题", "反映{subject}问题"]
        elif style == "grid":
            patterns = ["{place}{subject}", "巡查发现{subject}"]
        else:
            patterns = ["{subject}", "{place}{subject}", "{subject}！", "{start}"]
        clauses = [c for c in re.split(r"[，。！？、：,.!?:]+", text) if len(c) >= 4]
        opening = [c for c in clauses if not GREETING.match(c)] or clauses or [subject]
        start = opening[0][:16]
        return rng.choice(patterns).format(place=short_place, subject=subject, start=start)

    # ------------------------------------------------------------------ replies

    def remember(self, case_id: int | None, written: Written) -> None:
        if case_id is not None:
            self.written[case_id] = written

    def care_of(self, unit: str) -> float:
        """How carefully UNIT answers (0–1), the same for the same seed."""
        if unit not in self._care:
            self._care[unit] = random.Random(f"{self.seed}:{unit}").betavariate(*CARE)
        return self._care[unit]

    def reply(self, case_id: int | None, unit: str, at: datetime) -> str:
        """UNIT's answer to the report of CASE_ID, working on it from AT: good as often as
        the unit cares, else partial, vague or about something else."""
        rng = self.rng
        written = self.written.get(case_id) if case_id is not None else None
        if written is None:
            return rng.choice(self.replies["kinds"]["vague"])
        kind = "good" if rng.random() < self.care_of(unit) else _weighted(rng, OTHERWISE)
        if kind == "off_topic":
            others = [c for c in self.reports["categories"] if c != written.category]
            other = rng.choice(others)
            where = Where(
                community=rng.choice(["东湖社区", "新村社区", "桥西社区"]),
                estate=rng.choice(["金桂园", "丽景苑", "紫荆小区", "和园"]),
                road=rng.choice(self.frames["places"]["roads"]) + "路",
                door="",
            )
            written = self._report(other, "hotline", where, at)
            kind = "good"
        return self.answer(kind, written, unit, at)

    def on_the_spot(self, case_id: int | None, at: datetime) -> str:
        """A grid worker's note on solving the reported problem there and then."""
        written = self.written.get(case_id) if case_id is not None else None
        if written is None:
            return "已现场处置。"
        return self.answer("spot", written, "", at)

    def answer(self, kind: str, written: Written, unit: str, at: datetime) -> str:
        """A reply of KIND (good, partial, vague, spot: a kind of replies.toml) by UNIT to
        WRITTEN, working on it from AT."""
        rng = self.rng
        code = written.category
        group = dict(self.replies["groups"].get(code[:2], {}))
        actions = self.replies["actions"].get(code) or ["已安排人员处理"]
        day = city_day(at, TIME_ZONE)
        later = day + timedelta(days=rng.randint(5, 20))
        action = rng.choice(actions).format(
            n=rng.randint(2, 8), m=rng.randint(2, 4), t=f"{rng.uniform(0.5, 6):.1f}"
        )
        slots = _Blank(
            place=written.place or "您反映的地点",
            title=written.subject,
            problem=written.problem,
            ask=written.ask,
            unit=self.unit_names.get(unit, unit) or "我单位",
            date=f"{day.month}月{day.day}日",
            later=f"{later.month}月{later.day}日",
            n=rng.randint(2, 6),
            m=rng.randint(2, 3),
            action=action,
            action_bare=action.removeprefix("已"),
            result=rng.choice(group.get("result") or ["问题已处理"]),
            law=rng.choice(self.replies["laws"].get(code) or group.get("law") or [""]),
            guidance=rng.choice(group.get("guidance") or [""]),
        )
        return rng.choice(self.replies["kinds"][kind]).format_map(slots).strip()


class _Blank(dict[str, Any]):
    """Slots for str.format_map; one the frame names but nobody filled reads empty."""

    def __missing__(self, key: str) -> str:
        return ""


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, [float(weights[n]) for n in names])[0]


def where_near(grid_index: int, grid_name: str) -> Where:
    """The names near the demo's grid number GRID_INDEX (in the registry's order), as the
    demo registry gives its standard addresses: the reports then name the registry's roads
    and estates."""
    from civicgrid.demo.registry import ESTATES, ROAD_KINDS, ROADS

    road = ROADS[grid_index % len(ROADS)] + ROAD_KINDS[(grid_index // len(ROADS)) % len(ROAD_KINDS)]
    door = 1 + grid_index // (len(ROADS) * len(ROAD_KINDS))
    return Where(
        community=grid_name.split("第")[0],
        estate=ESTATES[grid_index % len(ESTATES)],
        road=road,
        door=f"{road}{door}号",
    )
