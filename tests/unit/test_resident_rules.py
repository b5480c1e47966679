"""The residents' rules as plain Python: adding one's voice to an open case, and what a
reporter proven by the case's number and her phone may do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civicgrid.cases.domain import (
    GUEST_NAME,
    REOPEN_WINDOW,
    REPORTER_ACTIONS,
    Action,
    Command,
    Status,
)
from civicgrid.core.errors import Conflict, Forbidden
from civicgrid.core.permissions import Actor, Role
from tests.unit.test_case_rules import T0, new_case

GUEST = Actor(GUEST_NAME, None)
PHONE_REPORTER = Actor("reporter:7", Role.RESIDENT)


def test_a_supporter_is_counted_on_the_case_with_a_join_row() -> None:
    case = new_case(Status.DISPATCHED)
    first = case.add_supporter(Actor("li", Role.RESIDENT), T0, "我也看到了")
    second = case.add_supporter(GUEST, T0 + timedelta(minutes=5))
    assert case.supporters == 2 and case.status is Status.DISPATCHED
    assert (first.action, first.note, first.data) == ("join", "我也看到了", {"supporters": 1})
    assert (second.actor_name, second.actor_role) == (GUEST_NAME, "resident")
    assert case.updated_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("status", [Status.CLOSED, Status.REJECTED, Status.MERGED])
def test_a_finished_case_takes_no_more_voices(status: Status) -> None:
    case = new_case(status)
    with pytest.raises(Conflict) as refused:
        case.add_supporter(GUEST, T0)
    assert refused.value.message_key == "case_not_open_for_support"
    assert case.supporters == 0


def test_a_reporter_proven_by_phone_may_confirm_rate_and_reopen_her_case() -> None:
    resolved = new_case(Status.RESOLVED, reporter_username=None)
    with pytest.raises(Forbidden):
        resolved.apply(Command(Action.VERIFY), PHONE_REPORTER, T0)  # not proven: not hers
    event = resolved.apply(Command(Action.VERIFY, as_reporter=True), PHONE_REPORTER, T0)
    assert (event.actor_name, event.actor_role) == ("reporter:7", "resident")
    closed = new_case(Status.CLOSED, reporter_username=None, closed_at=T0)
    closed.apply(Command(Action.RATE, satisfaction=4, as_reporter=True), PHONE_REPORTER, T0)
    reopen = Command(Action.REOPEN, reason="又坏了", as_reporter=True)
    closed.apply(reopen, PHONE_REPORTER, T0 + REOPEN_WINDOW)
    assert closed.status is Status.REGISTERED


def test_a_proven_reporter_may_do_nothing_beyond_a_reporters_actions() -> None:
    assert {Action.VERIFY, Action.REWORK, Action.RATE, Action.REOPEN} == REPORTER_ACTIONS
    case = new_case(Status.REPORTED, reporter_username=None)
    with pytest.raises(Forbidden):
        case.authorize(PHONE_REPORTER, Action.ACCEPT, T0, as_reporter=True)


def test_reopening_ends_seven_days_after_closing() -> None:
    case = new_case(Status.CLOSED, closed_at=T0)
    assert case.reopen_until() == T0 + timedelta(days=7)
    assert not case.reopen_window_passed(T0 + REOPEN_WINDOW)
    late = T0 + REOPEN_WINDOW + timedelta(minutes=1)
    assert case.reopen_window_passed(late)
    with pytest.raises(Forbidden) as refused:
        case.apply(Command(Action.REOPEN, reason="又坏了", as_reporter=True), PHONE_REPORTER, late)
    assert refused.value.message_key == "case_reopen_window"
