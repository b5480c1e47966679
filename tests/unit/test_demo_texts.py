"""The demo's reports and replies: the same seed writes the same texts, each category is
written in many ways, and the replies' quality is what insight's scorer measures."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from civicgrid.cases.taxonomy import DEFAULT_CATEGORIES
from civicgrid.demo.texts import DemoTexts, Written, _data
from civicgrid.insight.replies import Exchange, score_replies

AT = datetime(2026, 5, 11, 2, 30, tzinfo=UTC)
GRIDS = [(f"G{i:02d}", f"长青社区第{i}网格") for i in range(1, 13)]
CHANNELS = ["hotline", "resident_web", "grid_worker", "wechat_group", "open311", "sensor"]
with DEFAULT_CATEGORIES.open(encoding="utf-8") as taxonomy:
    LEAVES = {row["code"]: row["name"] for row in csv.DictReader(taxonomy) if row["parent_code"]}


def reports(seed: int, category: str, n: int) -> list[Written]:
    texts = DemoTexts(seed, grids=GRIDS)
    return [
        texts.report(category, CHANNELS[i % len(CHANNELS)], GRIDS[i % len(GRIDS)][0], AT)
        for i in range(n)
    ]


def test_the_same_seed_writes_the_same_texts_and_another_seed_others() -> None:
    assert reports(7, "CR01", 30) == reports(7, "CR01", 30)
    assert [w.description for w in reports(7, "CR01", 30)] != [
        w.description for w in reports(8, "CR01", 30)
    ]


def test_every_category_of_the_taxonomy_has_its_own_words_and_answers() -> None:
    assert set(LEAVES) <= set(_data("reports.toml")["categories"])
    assert set(LEAVES) <= set(_data("replies.toml")["actions"])


@pytest.mark.parametrize("category", sorted(LEAVES))
def test_each_category_is_written_in_many_ways_never_naming_it_in_the_title(
    category: str,
) -> None:
    written = reports(2024, category, 60)
    assert len({w.description for w in written}) >= 50
    assert len({w.title for w in written}) >= 8
    assert len({w.style for w in written}) >= 4
    # Lengths vary: a line typed in a hurry to a letter written at home.
    lengths = [len(w.description) for w in written]
    assert max(lengths) >= 2.5 * min(lengths)
    assert not any(w.title.startswith(LEAVES[category] + "：") for w in written)


def test_categories_read_differently_though_some_reports_fit_two() -> None:
    texts = {c: {w.description for w in reports(2024, c, 80)} for c in sorted(LEAVES)}
    for category, mine in texts.items():
        others = set().union(*(t for c, t in texts.items() if c != category))
        assert len(mine - others) >= 60, category
    # Reports that fit two categories share words: noise from a building site or a bar.
    problems = Counter(w.problem for c in ("CN01", "EP01") for w in reports(2024, c, 200))
    assert any(p.startswith("晚上一直有轰隆隆的声音") for p in problems)


def test_some_reports_carry_typing_slips() -> None:
    slips = [pair[1] for pair in _data("frames.toml")["typos"]["homophones"]]
    written = [w for c in ("CR01", "EP01", "HS01") for w in reports(3, c, 200)]
    slipped = [w for w in written if any(s in w.description for s in slips)]
    assert 0.05 * len(written) < len(slipped) < 0.5 * len(written)


def answered(kind: str, n: int = 60) -> tuple[list[Exchange], list[Written]]:
    texts = DemoTexts(11, {"U1": "长青街道城管中队"}, GRIDS)
    exchanges, written = [], []
    for i in range(n):
        category = sorted(LEAVES)[i % len(LEAVES)]
        w = texts.report(category, "hotline", GRIDS[i % len(GRIDS)][0], AT)
        reply = texts.answer(kind, w, "U1", AT + timedelta(hours=20))
        exchanges.append(Exchange(w.title, w.description, reply, AT, AT + timedelta(days=1)))
        written.append(w)
    return exchanges, written


def test_good_replies_score_above_partial_ones_and_those_above_boilerplate() -> None:
    good, written = answered("good")
    partial, _ = answered("partial")
    vague, _ = answered("vague")
    scores = score_replies(good + partial + vague)
    n = len(good)
    totals = {
        "good": [s.total for s in scores[:n]],
        "partial": [s.total for s in scores[n : 2 * n]],
        "vague": [s.total for s in scores[2 * n :]],
    }
    assert mean(totals["good"]) > mean(totals["partial"]) + 15 > mean(totals["vague"]) + 20
    assert min(totals["good"]) > max(totals["vague"])
    assert mean(s.relevance for s in scores[:n]) > 0.5
    assert all(s.concreteness == 0 for s in scores[2 * n :])
    # A good reply names the unit, the place and the problem as reported.
    assert sum("长青街道城管中队" in e.reply for e in good) >= 0.5 * n
    assert sum(w.place in e.reply for e, w in zip(good, written, strict=True) if w.place) >= (
        0.9 * sum(1 for w in written if w.place)
    )


def test_careful_units_answer_better_than_careless_ones() -> None:
    texts = DemoTexts(5, grids=GRIDS)
    units = [f"U{i}" for i in range(40)]
    careful = max(units, key=texts.care_of)
    careless = min(units, key=texts.care_of)
    assert texts.care_of(careful) - texts.care_of(careless) > 0.4
    exchanges: dict[str, list[Exchange]] = {careful: [], careless: []}
    for i in range(120):
        unit = (careful, careless)[i % 2]
        w = texts.report(sorted(LEAVES)[i % len(LEAVES)], "hotline", GRIDS[0][0], AT)
        texts.remember(i, w)
        reply = texts.reply(i, unit, AT)
        exchanges[unit].append(Exchange(w.title, w.description, reply, AT, AT))
    scores = score_replies(exchanges[careful] + exchanges[careless])
    assert mean(s.total for s in scores[:60]) > mean(s.total for s in scores[60:]) + 10


def test_a_grid_workers_note_says_where_and_what_was_done() -> None:
    texts = DemoTexts(1, grids=GRIDS)
    w = texts.report("SO01", "grid_worker", "G01", AT)
    texts.remember(1, w)
    note = texts.on_the_spot(1, AT)
    assert note and (w.place in note or w.subject in note)
    assert texts.on_the_spot(2, AT)  # a case it did not write still gets a note
