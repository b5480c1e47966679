"""A wrong action's 409 speaks the reader's words: every state and action of every record
kind on the kernel has a label in both languages, and the answer keeps the codes beside the
message for programs."""

from __future__ import annotations

import pytest

from civicgrid.assess.domain import APPEAL, MONTH_RECORD
from civicgrid.cases.domain import CASE
from civicgrid.core.i18n import LOCALES, message_text
from civicgrid.core.workflow import RecordKind, WrongState
from civicgrid.exchange.domain import SHARE_GRANT, SHARE_REQUEST
from civicgrid.insight.warnings.domain import WARNING

KINDS: list[RecordKind[object]] = [CASE, WARNING, SHARE_REQUEST, SHARE_GRANT, MONTH_RECORD, APPEAL]  # type: ignore[list-item]


def states_of(kind: RecordKind[object]) -> set[str]:
    found: set[str] = set()
    for spec in kind.actions.values():
        found |= {str(s) for s in spec.moves} | {str(s) for s in spec.moves.values()}
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_state_and_action_has_a_label(kind: RecordKind[object]) -> None:
    states, actions = kind.labels()
    for locale in LOCALES:
        for state in states_of(kind):
            assert message_text(f"{states}.{state}", locale), (kind.name, state, locale)
        for action in kind.actions:
            assert message_text(f"{actions}.{action}", locale), (kind.name, action, locale)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_wrong_state_names_no_code(kind: RecordKind[object]) -> None:
    for state in states_of(kind):
        refused = [a for a in kind.actions if state not in kind.actions[a].moves]
        for action in refused:
            allowed = kind.allowed(state)
            reachable = sorted({kind.actions[a].moves[state] for a in allowed} - {state})
            error = WrongState(kind.messages, kind.labels(), 7, state, action, allowed, reachable)
            for locale in LOCALES:
                text = error.message(locale)
                words = {state, action, *allowed, *reachable} - {"-"}
                # A code may be a word of the sentence itself ("open"), but never quoted.
                assert not any(f"“{code}”" in text for code in words), text
            assert error.details() == {"state": state, "allowed": allowed}


def test_the_case_message_reads_as_the_pages_do() -> None:
    error = WrongState("case", CASE.labels(), 12, "reported", "close", ["accept", "reject"], [])
    assert error.message("zh") == "案件 12 当前为“已上报”，不能结案；现在可以：受理、不予受理"
    assert error.message("en") == (
        "Case 12 is “Reported”, so “Close” is not possible; possible now: Accept, Reject"
    )
