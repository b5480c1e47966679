"""The workflow kernel on a record kind declared here, as a new capability declares its
own: a unit's request for another unit's data (the exchange's share request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest

from civicgrid.core.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated
from civicgrid.core.permissions import ANONYMOUS, Actor, Role
from civicgrid.core.workflow import (
    ActionSpec,
    Context,
    Light,
    RecordKind,
    Relation,
    change_event,
    field_changes,
    grant,
    in_area,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class State(StrEnum):
    ASKED = "asked"
    APPROVED = "approved"
    REFUSED = "refused"


@dataclass(eq=False)
class ShareRequest:
    owner_unit: str
    area_path: str
    state: State = State.ASKED
    reason: str = ""
    step_started_at: datetime | None = None
    deadline_at: datetime | None = None
    warn_at: datetime | None = None
    overdue: bool = False
    paused_remaining_seconds: float | None = None
    updated_at: datetime | None = None
    id: int | None = 7


@dataclass
class Decision:
    reason: str = ""


OWNER_UNIT: Relation[ShareRequest] = Relation(
    "owner_unit",
    lambda r, ctx: ctx.actor.department_code == r.owner_unit,
    lambda r, ctx: Forbidden("forbidden_area", code=r.owner_unit),
)
IN_AREA = in_area(lambda r: r.area_path, lambda r: r.owner_unit)
SHARE_REQUEST: RecordKind[ShareRequest] = RecordKind(
    name="share_request",
    actions={
        "approve": ActionSpec(
            "approve",
            {State.ASKED: State.APPROVED},
            (grant({Role.HANDLER}, OWNER_UNIT), grant({Role.DATA_ADMIN}, IN_AREA)),
        ),
        "refuse": ActionSpec(
            "refuse",
            {State.ASKED: State.REFUSED},
            (grant({Role.HANDLER}, OWNER_UNIT),),
            requires=("reason",),
        ),
    },
    open_states=frozenset({State.ASKED}),
    messages="case",  # borrows the cases' messages for the test
    steps={State.ASKED: "decide"},
    step_hours=lambda r, step: 48.0,
)

OWNER = Actor("h1", Role.HANDLER, department_code="D-GA")
OTHER_UNIT = Actor("h2", Role.HANDLER, department_code="D-MZ")
DATA_ADMIN = Actor("da", Role.DATA_ADMIN, area_code="S1", area_path="/C/D/S1/")
DATA_ADMIN_ELSEWHERE = Actor("db", Role.DATA_ADMIN, area_code="S2", area_path="/C/D/S2/")


def new_request() -> ShareRequest:
    request = ShareRequest(owner_unit="D-GA", area_path="/C/D/S1/")
    SHARE_REQUEST.restart_clock(request, T0)
    return request


def test_an_action_moves_the_record_and_returns_its_event() -> None:
    request = new_request()
    event = SHARE_REQUEST.apply(
        request, "approve", Context(OWNER, T0), lambda: {"fields": 3}, note="ok"
    )
    assert request.state is State.APPROVED and request.updated_at == T0
    assert (event.kind, event.record_id, event.action) == ("share_request", 7, "approve")
    assert (event.from_state, event.to_state, event.actor_name, event.actor_role) == (
        "asked",
        "approved",
        "h1",
        "handler",
    )
    assert (event.note, event.data) == ("ok", {"fields": 3})


def test_a_wrong_action_is_a_409_naming_the_state_and_what_it_allows() -> None:
    request = new_request()
    SHARE_REQUEST.apply(request, "approve", Context(OWNER, T0), dict)
    with pytest.raises(Conflict) as refused:
        SHARE_REQUEST.apply(request, "refuse", Context(OWNER, T0), dict)
    assert refused.value.status == 409
    assert refused.value.params["state"] == "approved"
    assert refused.value.params["allowed"] == "-"  # a decided request allows nothing


def test_who_may_act_is_the_roles_and_their_relations() -> None:
    request = new_request()
    with pytest.raises(Forbidden) as wrong_unit:
        SHARE_REQUEST.authorize(request, "approve", Context(OTHER_UNIT, T0))
    assert wrong_unit.value.message_key == "forbidden_area"
    with pytest.raises(Forbidden) as wrong_area:
        SHARE_REQUEST.authorize(request, "approve", Context(DATA_ADMIN_ELSEWHERE, T0))
    assert wrong_area.value.message_key == "forbidden_area"
    SHARE_REQUEST.authorize(request, "approve", Context(DATA_ADMIN, T0))  # another grant
    with pytest.raises(Forbidden) as wrong_role:
        SHARE_REQUEST.authorize(request, "refuse", Context(DATA_ADMIN, T0))
    assert wrong_role.value.message_key == "forbidden_role"
    with pytest.raises(Forbidden):
        SHARE_REQUEST.authorize(request, "approve", Context(ANONYMOUS, T0))


def test_a_relation_the_caller_proved_elsewhere_holds() -> None:
    request = new_request()
    proven = Context(OTHER_UNIT, T0, frozenset({"owner_unit"}))
    SHARE_REQUEST.authorize(request, "approve", proven)


def test_a_missing_field_is_a_422_naming_it_and_nothing_changes() -> None:
    request = new_request()
    with pytest.raises(InvalidInput) as refused:
        SHARE_REQUEST.apply(request, "refuse", Context(OWNER, T0), dict, command=Decision())
    assert refused.value.params == {"field": "reason", "action": "refuse"}
    assert request.state is State.ASKED
    SHARE_REQUEST.apply(request, "refuse", Context(OWNER, T0), dict, command=Decision("过期"))
    assert request.state is State.REFUSED


def test_the_service_rule_is_derived_from_the_declaration() -> None:
    assert SHARE_REQUEST.acting_roles() == {Role.HANDLER, Role.DATA_ADMIN}
    request = new_request()
    assert SHARE_REQUEST.available(request, Context(OWNER, T0)) == ["approve", "refuse"]
    assert SHARE_REQUEST.available(request, Context(DATA_ADMIN, T0)) == ["approve"]
    assert SHARE_REQUEST.available(request, Context(OTHER_UNIT, T0)) == []


def test_each_state_waits_on_its_step_with_yellow_and_red_lights() -> None:
    request = new_request()
    assert request.deadline_at == T0 + timedelta(hours=48)
    assert request.warn_at == T0 + timedelta(hours=36)
    assert SHARE_REQUEST.light(request, T0 + timedelta(hours=35)) is Light.GREEN
    assert SHARE_REQUEST.light(request, T0 + timedelta(hours=36)) is Light.YELLOW
    assert SHARE_REQUEST.light(request, T0 + timedelta(hours=48)) is Light.RED
    late = SHARE_REQUEST.mark_overdue(request, T0 + timedelta(hours=49))
    assert request.overdue and (late.action, late.actor_name) == ("overdue", "system")
    SHARE_REQUEST.apply(request, "approve", Context(OWNER, T0 + timedelta(hours=50)), dict)
    assert request.deadline_at is None and not request.overdue
    assert SHARE_REQUEST.light(request, T0 + timedelta(days=9)) is Light.NONE


def test_a_paused_step_resumes_with_the_time_it_had_left() -> None:
    request = new_request()
    SHARE_REQUEST.pause_clock(request, T0 + timedelta(hours=40))
    assert request.paused_remaining_seconds == 8 * 3600
    SHARE_REQUEST.restart_clock(request, T0 + timedelta(days=3), resume=True)
    assert request.deadline_at == T0 + timedelta(days=3, hours=8)
    assert request.paused_remaining_seconds is None


def test_a_record_without_states_records_its_changes_old_and_new() -> None:
    before = {"name": "民政科", "phone": "123", "active": True}
    after = {"name": "民政局", "phone": "123", "active": False}
    changes = field_changes(before, after)
    assert changes == {"name": ("民政科", "民政局"), "active": (True, False)}
    event = change_event("unit", 3, OWNER, T0, changes, note="机构改革")
    assert (event.kind, event.record_id, event.action, event.note) == (
        "unit",
        3,
        "change",
        "机构改革",
    )
    assert event.data == {"changes": {"name": ["民政科", "民政局"], "active": [True, False]}}
    assert (event.from_state, event.to_state) == (None, None)


def test_anonymous_callers_are_asked_to_log_in_by_a_derived_rule() -> None:
    from civicgrid.core.permissions import Rule

    rule = Rule(SHARE_REQUEST.acting_roles())
    with pytest.raises(NotAuthenticated):
        rule.check(ANONYMOUS)
    with pytest.raises(Forbidden):
        rule.check(Actor("r", Role.RESIDENT))
    rule.check(OWNER)
