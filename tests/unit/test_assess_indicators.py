"""Assessment's rules on hand-made cases: the fact row a timeline gives, every preset
indicator's numerator and denominator on a small set of cases whose answers were worked
out by hand (the definition pages say the same in words), scoring, and bad definitions
refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from civicgrid.assess import engines
from civicgrid.assess.domain import (
    FACT_FIELDS,
    CaseFacts,
    Kind,
    ObjectType,
    TimelineRow,
    derive_fact,
    month_window,
    parse_indicator,
    parse_scheme,
    rank,
    score_object,
)
from civicgrid.assess.engines import LIVE, DuckDBEngine, Scope, facts_to_arrow
from civicgrid.assess.services import _parse_book, presets
from civicgrid.core.errors import InvalidInput

TZ = "Asia/Shanghai"
NOW = datetime(2025, 4, 10, 4, 0, tzinfo=UTC)
MARCH = month_window("2025-03", NOW, TZ)
IN_MARCH = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)


def row(
    action: str,
    who: str,
    role: str,
    before: str | None,
    after: str | None,
    hours: float,
    **data: Any,
) -> TimelineRow:
    return TimelineRow(action, who, role, before, after, IN_MARCH + timedelta(hours=hours), data)


CASE = CaseFacts(1, "grid_worker", "CR01", "CR", "/C/D1/S1/M1/G1/", "G1", IN_MARCH)
# A grid worker's report: accepted, registered and dispatched by an agent, late in
# handling, resolved, sent back once, resolved again, checked by the grid worker, closed
# and rated 5.
TIMELINE = [
    row(
        "report",
        "wang",
        "grid_worker",
        None,
        "reported",
        0,
        channel="grid_worker",
        route={"level": "street"},
    ),
    row("accept", "li", "dispatcher", "reported", "accepted", 1),
    row("register", "li", "dispatcher", "accepted", "registered", 2),
    row("dispatch", "zhao", "dispatcher", "registered", "dispatched", 3, department="U1"),
    row("start", "h1", "handler", "dispatched", "in_progress", 5),
    row("overdue", "system", "", "in_progress", "in_progress", 80),
    row("resolve", "h1", "handler", "in_progress", "resolved", 90),
    row("rework", "wang", "grid_worker", "resolved", "in_progress", 91),
    row("resolve", "h1", "handler", "in_progress", "resolved", 95),
    row("verify", "wang", "grid_worker", "resolved", "verified", 96),
    row("close", "li", "dispatcher", "verified", "closed", 97),
    row("rate", "resident", "resident", "closed", "closed", 98, satisfaction=5),
]


def test_a_timeline_gives_its_fact_row() -> None:
    fact = derive_fact(CASE, TIMELINE, reply_quality=72.5)
    assert fact["reporter_worker"] == "wang"
    assert (fact["acceptor"], fact["dispatcher"], fact["verifier"]) == ("li", "zhao", "wang")
    assert fact["department_code"] == "U1" and fact["solved_level"] == "street"
    assert (fact["district_code"], fact["street_code"], fact["community_code"]) == (
        "D1",
        "S1",
        "M1",
    )
    assert fact["closed"] and not fact["is_open"] and fact["rated"]
    assert fact["satisfaction"] == 5 and fact["reply_quality"] == 72.5
    assert fact["reworks"] == 1 and fact["resolved_ever"]
    assert fact["handle_late"] and fact["unit_late"] and not fact["start_late"]
    assert fact["overdue_ever"] and not fact["overdue_now"]
    assert fact["accept_hours"] == 1 and fact["handle_hours"] == 85 + 4
    assert fact["closed_ts"] == int((IN_MARCH + timedelta(hours=97)).timestamp())
    assert set(fact) == set(FACT_FIELDS)


def test_a_fact_row_as_of_a_moment_counts_only_what_had_happened() -> None:
    fact = derive_fact(CASE, TIMELINE, as_of=IN_MARCH + timedelta(hours=85))
    assert fact["status"] == "in_progress" and fact["is_open"]
    assert fact["overdue_now"] and not fact["closed"] and fact["closed_ts"] is None
    assert fact["satisfaction"] is None and fact["reworks"] == 0


def test_an_extension_lifts_the_overdue_mark_and_a_reopening_forgets_the_rating() -> None:
    timeline = [
        *TIMELINE[:6],
        row("approve_extension", "li", "dispatcher", "in_progress", "in_progress", 81),
    ]
    fact = derive_fact(CASE, timeline)
    assert fact["extensions"] == 1 and not fact["overdue_now"] and fact["overdue_ever"]
    reopened = derive_fact(
        CASE, [*TIMELINE, row("reopen", "li", "dispatcher", "closed", "registered", 99)]
    )
    assert reopened["reopens"] == 1 and reopened["is_open"] and reopened["satisfaction"] is None


# ------------------------------------------------------------------ known answers


def fact(case_id: int, **values: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, kind in FACT_FIELDS.items():
        found[name] = False if kind is Kind.BOOL else 0 if kind is Kind.INT else None
    found.update(
        case_id=case_id,
        channel="hotline",
        category_code="CR01",
        group_code="CR",
        area_path="/C/D1/S1/M1/G1/",
        grid_code="G1",
        community_code="M1",
        street_code="S1",
        district_code="D1",
        status="closed",
        reported_ts=int(IN_MARCH.timestamp()),
        closed_ts=None,
        satisfaction=None,
    )
    found.update(values, snapshot=LIVE, refreshed_seq=1)
    if found["closed"] and found["closed_ts"] is None:
        found["closed_ts"] = found["reported_ts"] + 3600
    return found


def closed(**values: Any) -> dict[str, Any]:
    return {"closed": True, "status": "closed", "resolved_ever": True, **values}


FEBRUARY = int(datetime(2025, 2, 20, tzinfo=UTC).timestamp())
CASES = [
    # Unit U1: two closed (one on time and rated 5; one late, reworked, extended, rated 2),
    # two open (one overdue), one voided, and one closed case from February.
    fact(
        1,
        department_code="U1",
        dispatched=True,
        start_done=True,
        rated=True,
        satisfaction=5,
        dispatcher="zhao",
        acceptor="li",
        accept_done=True,
        **closed(),
    ),
    fact(
        2,
        department_code="U1",
        dispatched=True,
        start_done=True,
        start_late=True,
        handle_late=True,
        unit_late=True,
        reworks=1,
        extensions=1,
        rated=True,
        satisfaction=2,
        dispatcher="zhao",
        returns=1,
        acceptor="li",
        accept_done=True,
        accept_late=True,
        **closed(),
    ),
    fact(
        3,
        department_code="U1",
        dispatched=True,
        start_done=True,
        is_open=True,
        status="in_progress",
        overdue_now=True,
        dispatcher="qian",
        dispatch_late=True,
    ),
    fact(
        4,
        department_code="U1",
        dispatched=True,
        is_open=True,
        status="dispatched",
        dispatcher="qian",
    ),
    fact(5, department_code="U1", dispatched=True, voided=True, status="voided"),
    fact(8, department_code="U1", dispatched=True, reported_ts=FEBRUARY, **closed()),
    # Unit U2, in another grid: one closed, rated 4.
    fact(
        7,
        department_code="U2",
        dispatched=True,
        start_done=True,
        rated=True,
        satisfaction=4,
        grid_code="G2",
        area_path="/C/D1/S1/M1/G2/",
        dispatcher="zhao",
        **closed(),
    ),
    # Never dispatched: rejected; a grid worker's report, and one of hers that was voided.
    fact(6, rejected=True, status="rejected", channel="grid_worker", reporter_worker="wang"),
    fact(
        9,
        channel="grid_worker",
        reporter_worker="wang",
        verifier="wang",
        verify_done=True,
        **closed(),
    ),
    fact(10, channel="grid_worker", reporter_worker="wang", voided=True, status="voided"),
]
EXPECTED = {
    ("unit", "U1"): {
        "closure_rate": (2, 4),
        "ontime_closure_rate": (1, 2),
        "rework_rate": (1, 2),
        "extension_rate": (1, 4),
        "overdue_pending_rate": (1, 2),
        "response_rate": (2, 4),
        "solved_rate": (1, 2),
        "satisfaction_rate": (1, 2),
    },
    ("unit", "U2"): {"closure_rate": (1, 1), "satisfaction_rate": (1, 1), "solved_rate": (1, 1)},
    ("grid", "G1"): {"discovery_rate": (2, 6), "closure_rate": (2, 4)},
    ("grid_worker", "wang"): {"valid_report_rate": (1, 3), "ontime_verification_rate": (1, 1)},
    ("dispatcher", "zhao"): {
        "ontime_dispatch_rate": (3, 3),
        "accurate_dispatch_rate": (2, 3),
    },
    ("dispatcher", "qian"): {"ontime_dispatch_rate": (1, 2), "accurate_dispatch_rate": (2, 2)},
    ("dispatcher", "li"): {"ontime_accept_rate": (1, 2)},
}


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    duck = DuckDBEngine(None)
    duck.load(facts_to_arrow(CASES))
    return duck


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_every_preset_indicator_counts_the_hand_made_cases_as_worked_out(
    engine: DuckDBEngine, target: tuple[str, str]
) -> None:
    book = _parse_book(0, presets())
    object_type, code = ObjectType(target[0]), target[1]
    wanted = EXPECTED[target]
    indicators = [book.indicators[c] for c in wanted]
    found = engines.counts(engine, indicators, object_type, Scope(LIVE, MARCH))
    assert {c: found[code][c] for c in wanted} == wanted


def test_every_preset_indicator_has_a_known_answer_and_a_definition_in_both_languages() -> None:
    book = _parse_book(0, presets())
    tested = {c for answers in EXPECTED.values() for c in answers}
    assert tested == set(book.indicators)
    for indicator in book.indicators.values():
        assert indicator.description_zh and indicator.description_en


def test_the_cases_behind_a_figure_are_those_it_counts(engine: DuckDBEngine) -> None:
    book = _parse_book(0, presets())
    scope = Scope(LIVE, MARCH)
    closure = book.indicators["closure_rate"]
    assert engines.drill(engine, closure, ObjectType.UNIT, "U1", scope) == [1, 2, 3, 4]
    assert engines.drill(engine, closure, ObjectType.UNIT, "U1", scope, "numerator") == [1, 2]


def test_an_accepted_appeal_takes_its_case_out_of_the_count(engine: DuckDBEngine) -> None:
    book = _parse_book(0, presets())
    scope = Scope(LIVE, MARCH, excluded={"ontime_closure_rate": [2]})
    found = engines.counts(engine, [book.indicators["ontime_closure_rate"]], ObjectType.UNIT, scope)
    assert found["U1"]["ontime_closure_rate"] == (1, 1)


def test_an_area_sees_only_its_own_cases(engine: DuckDBEngine) -> None:
    book = _parse_book(0, presets())
    scope = Scope(LIVE, MARCH, area_path="/C/D1/S1/M1/G2/")
    found = engines.counts(engine, [book.indicators["closure_rate"]], ObjectType.UNIT, scope)
    assert set(found) == {"U2"}


# ------------------------------------------------------------------ scores


def test_scores_weigh_each_rule_and_grade_the_total() -> None:
    book = _parse_book(0, presets())
    scheme = book.schemes["department"]
    counts = EXPECTED["unit", "U1"]
    score = score_object(scheme, book.indicators, counts, "U1")
    # closure 0.5×25 + on-time 30−2×(95−50) floored at 0 + rework (1−0.5)×15
    # + extension (1−0.25)×10 + overdue pending (1−0.5)×20
    assert score.score == pytest.approx(12.5 + 0 + 7.5 + 7.5 + 10)
    assert score.grade == "E"
    perfect = score_object(scheme, book.indicators, {}, "U9")  # nothing to judge: full marks
    assert perfect.score == 100 and perfect.grade == "A"
    ranked = rank([score, perfect])
    assert [(r.object_code, r.rank) for r in ranked] == [("U9", 1), ("U1", 2)]


def test_an_indicator_left_out_for_lack_of_cases_scales_the_others() -> None:
    book = _parse_book(0, presets())
    scheme = book.schemes["hotline"]
    score = score_object(scheme, book.indicators, {"response_rate": (1, 2)}, "U1")
    assert score.figures["satisfaction_rate"].points is None
    assert score.score == pytest.approx(50.0)  # 15 of the 30 points counted


# ------------------------------------------------------------------ bad definitions


def definition(**changes: Any) -> dict[str, Any]:
    return {**presets()["indicator"]["closure_rate"], **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"on_zero": None}, "on_zero"),
        ({"objects": ["unit", "planet"]}, "objects"),
        ({"period": "fortnight"}, "period"),
        ({"denominator": [{"field": "colour", "op": "=", "value": "red"}]}, "denominator.1.field"),
        (
            {"denominator": [{"field": "reworks", "op": ">", "value": "many"}]},
            "denominator.1.value",
        ),
        (
            {
                "denominator": [
                    {"field": "status", "op": "=", "value": "closed"},
                    {"field": "status", "op": "=", "value": "reported"},
                ]
            },
            "denominator",
        ),
        ({"numerator": []}, "numerator"),
        ({"name_en": ""}, "name_en"),
    ],
)
def test_a_bad_indicator_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_indicator(definition(**changes))
    assert refused.value.params["field"] == field


def scheme(**changes: Any) -> dict[str, Any]:
    return {**presets()["scheme"]["department"], **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"object": "planet"}, "object"),
        (
            {
                "items": [
                    {"indicator": "closure_rate", "weight": 60},
                    {"indicator": "rework_rate", "weight": 30},
                ]
            },
            "weights",
        ),
        ({"items": [{"indicator": "valid_report_rate", "weight": 100}]}, "items.1.indicator"),
        ({"items": [{"indicator": "closure_rate", "weight": "x"}]}, "items.1.weight"),
        ({"grades": [{"grade": "A", "min_score": 60}, {"grade": "B", "min_score": 80}]}, "grades"),
    ],
)
def test_a_bad_scheme_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    indicators = _parse_book(0, presets()).indicators
    with pytest.raises(InvalidInput) as refused:
        parse_scheme(scheme(**changes), indicators)
    assert refused.value.params["field"] == field


def test_a_month_in_the_future_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        month_window("2025-05", NOW, TZ)
    assert refused.value.params["field"] == "month"
    with pytest.raises(InvalidInput):
        month_window("2025-13", NOW, TZ)
    # The city's month: 1 March 00:00 in Shanghai is 28 February 16:00 UTC.
    assert MARCH.start == datetime(2025, 2, 28, 16, tzinfo=UTC)
