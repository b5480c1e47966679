"""The hotline (12345) agent's intake: a caller's earlier cases by her phone, this call added
to one of them instead of a new case, a place from the registry's standard addresses, and
"register and dispatch now" — each step through the case services and the case kernel.

A call added to an earlier case is a voice added to it (附议, the JOIN row of the timeline)
with the agent as the one who wrote it down: the case counts it and the caller, when she is
not already one of its reporters, hears its answers from now on. Registering a new case is
intake (report_case) through the hotline channel; dispatching it now is the centre's three
steps (accept, register, dispatch to the unit the authority list routes it to), each one
an action on the kernel as the queue's buttons take them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from civicgrid.cases.domain import Action, Case, Channel, Reporter
from civicgrid.cases.repository import CaseRepository, case_reporters, phone_digits_sql
from civicgrid.cases.services import (
    ActionRequest,
    CasePorts,
    NewCase,
    Reported,
    act_on_case,
    can_see,
    check_description,
    notify,
    phone_digits,
    prepare_report,
    store_reports,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, Conflict, Forbidden, InvalidInput, NotFound
from civicgrid.core.i18n import N_
from civicgrid.core.ledger import Action as AccessAction
from civicgrid.core.ledger import Entry, Ledger
from civicgrid.core.permissions import Actor, Role, permission
from civicgrid.core.types import is_phone
from civicgrid.registry.views import AddressPoint, address_by_id, addresses_like

# Who takes calls: the roles that report through the hotline and read callers' phones in
# full (the dispatch centre, community and street cadres, administrators).
HOTLINE_ROLES = frozenset({Role.DISPATCHER, Role.CADRE, Role.ADMIN})
# A caller's earlier cases: the newest this many.
HISTORY_SIZE = 20
MIN_CALLER_DIGITS = 6


@dataclass(frozen=True)
class CallerCase:
    """An earlier case of the caller: the case, and whether she reported it or added her
    voice to it."""

    case: Case
    supporter: bool


@permission(HOTLINE_ROLES, "A caller's earlier cases, by her phone")
def caller_cases(uow: UnitOfWork, actor: Actor, phone: str) -> list[CallerCase]:
    """The cases inside the caller's scope that a reporter with PHONE (any spacing)
    reported or added her voice to, newest first, open and closed. Looking a phone up is a
    read of reporters' phones: logged, with the cases it found."""
    digits = phone_digits(phone)
    if len(digits) < MIN_CALLER_DIGITS:
        raise InvalidInput("case_caller_phone_short", field="phone", min=MIN_CALLER_DIGITS)
    stmt = (
        select(case_reporters.c.case_id, case_reporters.c.supporter)
        .where(phone_digits_sql(case_reporters.c.phone) == digits)
        .order_by(case_reporters.c.case_id.desc())
        .limit(HISTORY_SIZE * 5)
    )
    found: dict[int, bool] = {}
    for case_id, supporter in uow.session.execute(stmt):
        found[int(case_id)] = found.get(int(case_id), True) and bool(supporter)
    repo = CaseRepository(uow.session)
    earlier = [
        CallerCase(case, found[case.id or 0])
        for case in sorted(repo.get_many(list(found)), key=lambda c: -(c.id or 0))
        if can_see(actor, case, repo.reporters(case.id or 0))
    ][:HISTORY_SIZE]
    if earlier:
        Ledger(uow.session).append(
            Entry.by(
                actor,
                AccessAction.PERSONAL_READ,
                record_kind="case",
                record_ids=[c.case.id or 0 for c in earlier],
                fields=("reporter.phone",),
            )
        )
        uow.commit()
    return earlier


@dataclass
class NewCall:
    """A call about a case already reported: who calls and what she says now."""

    phone: str
    name: str = ""
    note: str = ""


@dataclass
class CallAdded:
    case: Case
    # False when the caller was already one of its reporters (a repeat call).
    new_reporter: bool


@permission(HOTLINE_ROLES, "Add a call to an earlier case instead of a new one")
def add_call(
    uow: UnitOfWork, actor: Actor, case_id: int, call: NewCall, ports: CasePorts
) -> CallAdded:
    """The caller's problem is already a case: her call is a voice added to it (附议) as
    the agent wrote it down, and she becomes one of its reporters (unless she is already),
    so she hears its answers. 409 when the case is no longer open (a new case then)."""
    if not is_phone(call.phone) or len(phone_digits(call.phone)) < MIN_CALLER_DIGITS:
        raise InvalidInput("case_bad_phone", field="phone", value=call.phone)
    check_description(call.note, ports.settings.max_description_chars)
    repo = CaseRepository(uow.session)
    case = repo.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    reporters = list(repo.reporters(case_id))
    if not can_see(actor, case, reporters):
        raise Forbidden("case_hidden", id=case_id)
    now = ports.clock()
    event = case.add_supporter(actor, now, call.note)
    repo.add_event(case, event)
    digits = phone_digits(call.phone)
    known = any(r.phone and phone_digits(r.phone) == digits for r in reporters)
    added: list[Reporter] = []
    if not known:
        added.append(
            Reporter(
                channel=Channel.HOTLINE,
                name=call.name,
                phone=call.phone.strip(),
                created_at=now,
                supporter=True,
                case_id=case_id,
            )
        )
        repo.add_reporter(added[0])
    uow.session.flush()
    if added:
        notify(repo, case, event, ports, added, key=N_("msg.joined"))
    try:
        uow.commit()
    except StaleDataError as exc:
        raise Conflict("case_changed", id=case_id) from exc
    return CallAdded(case, new_reporter=not known)


@dataclass
class Registered:
    """A call registered as a case: what intake made of it, and how far dispatching it went
    (the actions done, in order; the error that stopped it, if one did)."""

    reported: Reported
    done: list[Action] = field(default_factory=list)
    stopped: CivicGridError | None = None

    @property
    def case(self) -> Case:
        return self.reported.case

    @property
    def dispatched(self) -> bool:
        return Action.DISPATCH in self.done


DISPATCH_STEPS = (Action.ACCEPT, Action.REGISTER, Action.DISPATCH)


@permission(HOTLINE_ROLES, "Register a call as a case, and dispatch it now")
def register_call(
    uow: UnitOfWork,
    actor: Actor,
    new: NewCase,
    ports: CasePorts,
    *,
    address_id: int | None = None,
    dispatch: bool = False,
) -> Registered:
    """Take a call in as a case through the hotline channel. A standard address chosen by
    its number (ADDRESS_ID) places the case at its point, and so in its grid. With
    DISPATCH, the case is then accepted, registered and dispatched to the unit the
    authority list routes it to, each an action of its own; if one cannot be taken (no unit
    is routed), the case stays where it got to and `stopped` says why."""
    new.channel = Channel.HOTLINE
    if address_id is not None:
        standard = address_by_id(uow.session, address_id)
        if standard is None or standard.lat is None or standard.lon is None:
            raise InvalidInput("case_address_id_unknown", field="address", id=address_id)
        new.lat, new.lon = standard.lat, standard.lon
        new.address = new.address or standard.text
    reported = prepare_report(uow, actor, new, ports)
    store_reports(uow, [reported], ports)
    registered = Registered(reported)
    if not dispatch:
        return registered
    case_id = reported.case.id or 0
    for action in DISPATCH_STEPS:
        try:
            view = act_on_case(uow, actor, case_id, ActionRequest(action=action.value), ports)
        except CivicGridError as error:
            uow.rollback()
            registered.stopped = error
            break
        registered.reported.case = view.case
        registered.done.append(action)
    return registered


@permission(HOTLINE_ROLES, "Standard addresses that fit what an agent types")
def suggest_addresses(
    uow: UnitOfWork, actor: Actor, text: str, limit: int = 8
) -> Sequence[AddressPoint]:
    """The registry's standard addresses holding every word of TEXT (two characters at
    least), shortest first."""
    if len(text.strip()) < 2:
        return []
    return addresses_like(uow.session, text[:200], limit)


__all__ = [
    "DISPATCH_STEPS",
    "HOTLINE_ROLES",
    "CallAdded",
    "CallerCase",
    "NewCall",
    "Registered",
    "add_call",
    "caller_cases",
    "register_call",
    "suggest_addresses",
]
