"""The case lifecycle as plain Python: every transition allowed and refused, who may act,
time limits and the authority list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.domain import (
    CASE,
    TRANSITIONS,
    Action,
    AuthorityRule,
    Case,
    CaseHandler,
    Category,
    Channel,
    Command,
    Light,
    Priority,
    Route,
    Status,
    TimeLimits,
    next_level_up,
    route_at,
    route_case,
)
from civicgrid.core.errors import Conflict, Forbidden, InvalidInput
from civicgrid.core.i18n import translate
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.workflow import WrongState

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GRID_PATH = "/C/D/S/K/G/"
ADMIN = Actor("admin", Role.ADMIN)
DISPATCHER = Actor("disp", Role.DISPATCHER, area_code="C", area_path="/C/")
LEAD = Actor("h1", Role.HANDLER, department_code="S-ZFD")
CO = Actor("h2", Role.HANDLER, department_code="S-PCS")
OTHER_UNIT = Actor("h3", Role.HANDLER, department_code="D-CGJ")
RESIDENT = Actor("wang", Role.RESIDENT)
WORKER = Actor("gw", Role.GRID_WORKER, area_code="G", area_path=GRID_PATH)


def new_case(status: Status = Status.REPORTED, **changes: object) -> Case:
    case = Case(
        description="垃圾满溢",
        channel=Channel.RESIDENT_WEB,
        category_code="CR01",
        grid_code="G",
        area_path=GRID_PATH,
        handling_level=Level.STREET,
        handling_area_code="S",
        created_at=T0,
        reporter_username="wang",
        suggested_department_code="S-ZFD",
        time_limits=TimeLimits().as_dict(),
        id=1,
    )
    case.status = status
    if status in (Status.DISPATCHED, Status.IN_PROGRESS, Status.SUSPENDED, Status.RESOLVED):
        case.department_code = "S-ZFD"
        case.handlers = [
            CaseHandler("S-ZFD", lead=True, assigned_at=T0),
            CaseHandler("S-PCS", lead=False, assigned_at=T0),
        ]
    if status is Status.CLOSED:
        case.closed_at = T0
    for name, value in changes.items():
        setattr(case, name, value)
    case.start_clock(T0)
    return case


# A command that satisfies every action's required fields, and an actor allowed to take it.
COMPLETE = {
    Action.REJECT: Command(Action.REJECT, reason="不属于受理范围"),
    Action.DISPATCH: Command(Action.DISPATCH, department="S-ZFD"),
    Action.WHISTLE: Command(
        Action.WHISTLE, departments=["S-ZFD", "S-PCS"], lead="S-ZFD", reason="多部门联合处置"
    ),
    Action.RETURN: Command(Action.RETURN, reason="不属于本部门"),
    Action.RESOLVE: Command(Action.RESOLVE, note="已清理"),
    Action.REQUEST_EXTENSION: Command(Action.REQUEST_EXTENSION, reason="等配件", hours=24),
    Action.SUSPEND: Command(Action.SUSPEND, reason="纳入改造计划"),
    Action.REWORK: Command(Action.REWORK, reason="仍有垃圾"),
    Action.RATE: Command(Action.RATE, satisfaction=5),
    Action.REOPEN: Command(Action.REOPEN, reason="又堆满了"),
    Action.VOID: Command(Action.VOID, reason="测试数据"),
    Action.ESCALATE: Command(
        Action.ESCALATE,
        reason="本级无权处理",
        route=Route(Level.DISTRICT, "D", "D-CGJ", None, TimeLimits()),
    ),
    Action.MERGE: Command(Action.MERGE, into=2),
    Action.AMEND: Command(Action.AMEND, priority=Priority.URGENT),
    Action.RESOLVE_ON_SPOT: Command(Action.RESOLVE_ON_SPOT, note="已扶正", attachments=["p1"]),
}
ACTOR_FOR = {
    Action.RETURN: LEAD,
    Action.START: LEAD,
    Action.CHECK_IN: CO,
    Action.RESOLVE: LEAD,
    Action.REQUEST_EXTENSION: LEAD,
    Action.VERIFY: WORKER,
    Action.REWORK: WORKER,
    Action.RATE: RESIDENT,
    Action.REOPEN: RESIDENT,
    Action.RESOLVE_ON_SPOT: Actor("wang", Role.GRID_WORKER, area_code="G", area_path=GRID_PATH),
}
PAIRS = [(action, status) for action in Action for status in Status]


@pytest.mark.parametrize(("action", "status"), PAIRS)
def test_every_action_in_every_state_is_allowed_exactly_as_the_table_says(
    action: Action, status: Status
) -> None:
    case = new_case(status)
    if action is Action.APPROVE_EXTENSION or action is Action.DENY_EXTENSION:
        case.pending_extension_hours = 24
    # The table is about states: the units acting keep their standing on the case in every
    # state (whoever has none is refused before its state is said; see below).
    case.handlers = case.handlers or [
        CaseHandler("S-ZFD", lead=True, assigned_at=T0),
        CaseHandler("S-PCS", lead=False, assigned_at=T0),
    ]
    command = COMPLETE.get(action, Command(action))
    actor = ACTOR_FOR.get(
        action, DISPATCHER if Role.DISPATCHER in CASE.spec(action).roles() else ADMIN
    )
    if status in TRANSITIONS[action]:
        event = case.apply(command, actor, T0 + timedelta(hours=1))
        assert case.status is TRANSITIONS[action][status]
        assert (event.from_state, event.to_state) == (status, case.status)
        assert event.actor_name == actor.name
    else:
        with pytest.raises(Conflict) as refused:
            case.apply(command, actor, T0 + timedelta(hours=1))
        refusal = refused.value
        assert isinstance(refusal, WrongState)
        allowed = [a.value for a, moves in TRANSITIONS.items() if status in moves]
        # The codes stay beside the message for programs; the message speaks in words.
        assert refusal.details() == {"state": status.value, "allowed": allowed}
        message = refusal.message("en")
        assert f"“{translate(f'status.{status.value}', 'en')}”" in message
        assert f"“{translate(f'action.{action.value}', 'en')}”" in message


@pytest.mark.parametrize("status", list(Status))
def test_who_may_not_act_on_a_case_hears_nothing_of_its_state(status: Status) -> None:
    case = new_case(status)
    case.handlers = [CaseHandler("S-ZFD", lead=True, assigned_at=T0)]
    stranger = Actor("other", Role.RESIDENT)
    for actor, action in ((OTHER_UNIT, Action.START), (stranger, Action.RATE)):
        with pytest.raises(Forbidden) as refused:
            case.apply(COMPLETE.get(action, Command(action)), actor, T0)
        assert "status" not in refused.value.params and "state" not in refused.value.params


def test_the_whole_lifecycle_from_report_to_rating() -> None:
    case = new_case()
    steps = [
        (Command(Action.ACCEPT), DISPATCHER, Status.ACCEPTED),
        (Command(Action.REGISTER), DISPATCHER, Status.REGISTERED),
        (Command(Action.DISPATCH), DISPATCHER, Status.DISPATCHED),
        (Command(Action.START), LEAD, Status.IN_PROGRESS),
        (Command(Action.RESOLVE, note="已清理"), LEAD, Status.RESOLVED),
        (Command(Action.VERIFY), WORKER, Status.VERIFIED),
        (Command(Action.CLOSE), DISPATCHER, Status.CLOSED),
        (Command(Action.RATE, satisfaction=4, note="满意"), RESIDENT, Status.CLOSED),
    ]
    for hour, (command, actor, expected) in enumerate(steps, start=1):
        case.apply(command, actor, T0 + timedelta(hours=hour))
        assert case.status is expected
    assert case.department_code == "S-ZFD"  # the suggested unit, when none is named
    assert case.satisfaction == 4
    assert case.deadline_at is None


def test_required_fields_are_named() -> None:
    with pytest.raises(InvalidInput) as missing:
        new_case().apply(Command(Action.REJECT), DISPATCHER, T0)
    assert missing.value.params["field"] == "reason"
    with pytest.raises(InvalidInput) as score:
        new_case(Status.CLOSED).apply(Command(Action.RATE, satisfaction=6), RESIDENT, T0)
    assert score.value.params["field"] == "satisfaction"


def test_a_whistle_needs_two_units_and_a_lead_among_them() -> None:
    case = new_case(Status.REGISTERED)
    with pytest.raises(InvalidInput):
        case.apply(Command(Action.WHISTLE, departments=["S-ZFD"], reason="联合"), DISPATCHER, T0)
    with pytest.raises(InvalidInput):
        case.apply(
            Command(Action.WHISTLE, departments=["S-ZFD", "S-PCS"], lead="X", reason="联合"),
            DISPATCHER,
            T0,
        )
    case.apply(
        Command(Action.WHISTLE, departments=["S-ZFD", "S-PCS"], lead="S-PCS", reason="联合"),
        DISPATCHER,
        T0,
    )
    assert case.lead_department == "S-PCS"
    assert case.handler_codes() == {"S-ZFD", "S-PCS"}


def test_a_whistle_says_why_and_may_name_a_meeting_still_to_come() -> None:
    units = ["S-ZFD", "S-PCS"]
    with pytest.raises(InvalidInput) as why:
        new_case(Status.REGISTERED).apply(
            Command(Action.WHISTLE, departments=units), DISPATCHER, T0
        )
    assert why.value.params["field"] == "reason"
    past = Command(Action.WHISTLE, departments=units, reason="联合", meeting_at=T0 - timedelta(1))
    with pytest.raises(InvalidInput) as gone:
        new_case(Status.REGISTERED).apply(past, DISPATCHER, T0)
    assert gone.value.params["field"] == "meeting_at"
    meeting = T0 + timedelta(hours=3)
    whistle = Command(Action.WHISTLE, departments=units, reason="占道纠纷", meeting_at=meeting)
    event = new_case(Status.REGISTERED).apply(whistle, DISPATCHER, T0)
    assert event.note == "占道纠纷"
    assert datetime.fromisoformat(event.data["meeting_at"]) == meeting


def test_co_handlers_report_in_once_and_only_the_lead_resolves() -> None:
    case = new_case(Status.IN_PROGRESS)
    case.apply(Command(Action.CHECK_IN, note="已到场"), CO, T0)
    assert case.handlers[1].checked_in_at == T0
    with pytest.raises(Conflict):
        case.apply(Command(Action.CHECK_IN), CO, T0)
    with pytest.raises(Forbidden):
        case.apply(Command(Action.RESOLVE, note="x"), CO, T0)
    with pytest.raises(Forbidden):
        case.apply(Command(Action.RESOLVE, note="x"), OTHER_UNIT, T0)


def test_people_outside_the_case_are_refused() -> None:
    elsewhere = Actor("c2", Role.CADRE, area_code="S2", area_path="/C/D/S2/")
    with pytest.raises(Forbidden):
        new_case().apply(Command(Action.ACCEPT), elsewhere, T0)
    with pytest.raises(Forbidden):
        new_case(Status.CLOSED).apply(
            Command(Action.RATE, satisfaction=5), Actor("li", Role.RESIDENT), T0
        )
    with pytest.raises(Forbidden):
        new_case().apply(Command(Action.ACCEPT), RESIDENT, T0)


def test_residents_may_reopen_only_within_seven_days() -> None:
    case = new_case(Status.CLOSED)
    with pytest.raises(Forbidden):
        case.apply(Command(Action.REOPEN, reason="又坏了"), RESIDENT, T0 + timedelta(days=8))
    case.apply(Command(Action.REOPEN, reason="又坏了"), RESIDENT, T0 + timedelta(days=6))
    assert case.status is Status.REGISTERED


def test_a_grid_worker_resolves_her_own_report_on_the_spot_with_proof() -> None:
    mine = Actor("gw", Role.GRID_WORKER, area_code="G", area_path=GRID_PATH)
    case = new_case(reporter_username="gw")
    with pytest.raises(InvalidInput):
        case.apply(Command(Action.RESOLVE_ON_SPOT, note="已处理"), mine, T0)
    case.apply(Command(Action.RESOLVE_ON_SPOT, note="已处理", attachments=["p"]), mine, T0)
    assert (case.status, case.resolved_on_spot) == (Status.CLOSED, True)
    with pytest.raises(Forbidden):
        new_case().apply(Command(Action.RESOLVE_ON_SPOT, note="x", attachments=["p"]), mine, T0)


def test_deadlines_turn_yellow_at_75_percent_and_red_at_100() -> None:
    case = new_case()  # accepting has 2 hours
    assert case.deadline_at == T0 + timedelta(hours=2)
    assert case.light(T0 + timedelta(minutes=89)) is Light.GREEN
    assert case.light(T0 + timedelta(minutes=90)) is Light.YELLOW
    assert case.light(T0 + timedelta(hours=2)) is Light.RED


def test_urgent_cases_get_half_the_time() -> None:
    assert new_case(priority=Priority.URGENT).deadline_at == T0 + timedelta(hours=1)


def test_each_step_restarts_the_clock_with_its_own_limit() -> None:
    case = new_case(Status.DISPATCHED)
    case.apply(Command(Action.START), LEAD, T0)
    assert case.deadline_at == T0 + timedelta(hours=72)


def test_an_approved_extension_moves_the_deadline() -> None:
    case = new_case(Status.IN_PROGRESS)
    before = case.deadline_at
    assert before is not None
    case.apply(Command(Action.REQUEST_EXTENSION, reason="等配件", hours=48), LEAD, T0)
    with pytest.raises(Conflict):
        case.apply(Command(Action.REQUEST_EXTENSION, reason="再等", hours=1), LEAD, T0)
    case.apply(Command(Action.APPROVE_EXTENSION), DISPATCHER, T0)
    assert case.deadline_at == before + timedelta(hours=48)
    assert case.pending_extension_hours is None


def test_a_suspended_case_resumes_with_the_time_it_had_left() -> None:
    case = new_case(Status.IN_PROGRESS)  # 72 hours from T0
    case.apply(Command(Action.SUSPEND, reason="挂账"), DISPATCHER, T0 + timedelta(hours=10))
    assert case.deadline_at is None and case.light(T0 + timedelta(days=30)) is Light.NONE
    case.apply(Command(Action.RESUME), DISPATCHER, T0 + timedelta(days=30))
    assert case.deadline_at == T0 + timedelta(days=30, hours=62)


def test_failing_verification_sends_the_case_back_and_counts_rework() -> None:
    case = new_case(Status.RESOLVED)
    case.apply(Command(Action.REWORK, reason="仍有垃圾"), WORKER, T0)
    assert (case.status, case.rework_count) == (Status.IN_PROGRESS, 1)


def test_escalation_moves_the_case_a_level_up_for_dispatch_there() -> None:
    case = new_case(Status.IN_PROGRESS)
    route = Route(Level.DISTRICT, "D", "D-CGJ", 7, TimeLimits(dispatch=1))
    case.apply(Command(Action.ESCALATE, reason="无权", route=route), LEAD, T0)
    assert case.status is Status.REGISTERED
    assert (case.handling_level, case.suggested_department_code) == (Level.DISTRICT, "D-CGJ")
    assert case.handlers == [] and case.escalation_count == 1
    assert case.deadline_at == T0 + timedelta(hours=1)


def test_a_case_at_the_top_cannot_escalate() -> None:
    with pytest.raises(Conflict):
        new_case().apply(Command(Action.ESCALATE, reason="x", route=None), DISPATCHER, T0)


def test_the_scheduler_marks_overdue_once() -> None:
    case = new_case()
    event = case.mark_overdue(T0 + timedelta(hours=3))
    assert case.overdue and event.action == "overdue"
    case.apply(Command(Action.ACCEPT), DISPATCHER, T0 + timedelta(hours=3))
    assert not case.overdue  # a new step, a new clock


# ------------------------------------------------------------------ the authority list

GARBAGE = Category("CR01", "暴露垃圾", parent_code="CR")
CHAIN = {
    Level.CITY: "C",
    Level.DISTRICT: "D",
    Level.STREET: "S",
    Level.COMMUNITY: "K",
    Level.GRID: "G",
}
UNITS = {
    ("S", Function.URBAN_MANAGEMENT): "S-ZFD",
    ("D", Function.URBAN_MANAGEMENT): "D-CGJ",
    ("D", Function.ENVIRONMENT): "D-STJ",
    ("K", Function.COMMUNITY_AFFAIRS): "K-JWH",
}


def rule(
    code: str, level: Level, function: Function, area: str | None = None, rid: int = 1
) -> AuthorityRule:
    return AuthorityRule(code, level, department_function=function, area_code=area, id=rid)


def test_cases_go_to_the_lowest_level_with_authority() -> None:
    rules = [
        rule("CR", Level.DISTRICT, Function.URBAN_MANAGEMENT),
        rule("CR", Level.STREET, Function.URBAN_MANAGEMENT),
    ]
    route = route_case(GARBAGE, CHAIN, rules, UNITS)
    assert (route.level, route.area_code, route.department_code) == (Level.STREET, "S", "S-ZFD")


def test_a_rule_for_the_category_beats_one_for_its_group() -> None:
    rules = [
        rule("CR", Level.DISTRICT, Function.URBAN_MANAGEMENT, rid=1),
        rule("CR01", Level.DISTRICT, Function.ENVIRONMENT, rid=2),
    ]
    assert route_case(GARBAGE, CHAIN, rules, UNITS).department_code == "D-STJ"


def test_a_rule_for_one_area_beats_a_general_one_there_only() -> None:
    rules = [
        rule("CR", Level.DISTRICT, Function.URBAN_MANAGEMENT, rid=1),
        rule("CR", Level.DISTRICT, Function.ENVIRONMENT, area="D", rid=2),
    ]
    assert route_case(GARBAGE, CHAIN, rules, UNITS).rule_id == 2
    elsewhere = {**CHAIN, Level.DISTRICT: "D9"}
    assert route_case(GARBAGE, elsewhere, rules, UNITS).rule_id == 1


def test_without_any_rule_the_city_dispatches_by_hand() -> None:
    route = route_case(GARBAGE, CHAIN, [], UNITS)
    assert (route.level, route.department_code) == (Level.CITY, None)


def test_routing_at_a_level_without_a_unit_leaves_the_choice_to_the_centre() -> None:
    route = route_at(
        Level.CITY, GARBAGE, CHAIN, [rule("CR", Level.CITY, Function.URBAN_MANAGEMENT)], UNITS
    )
    assert route.level is Level.CITY and route.department_code is None and route.rule_id == 1


def test_levels_go_up_one_at_a_time() -> None:
    assert next_level_up(Level.COMMUNITY) is Level.STREET
    assert next_level_up(Level.DISTRICT) is Level.CITY
    assert next_level_up(Level.CITY) is None
