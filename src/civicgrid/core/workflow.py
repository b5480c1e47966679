"""The workflow kernel: one way for every record that moves through states.

A record kind (a case, a warning, later a share request, a grant, an alarm, a task…)
declares here, once:

- its states and a transition table: which action leads from which state to which;
- each action's rule: the roles that may take it and, for each role, the relations the
  caller must have to the record ("in its area", "the lead unit", "its reporter" …);
- the fields an action needs (a reason to reject, a note to resolve);
- the time limit of the step each state waits for, so deadlines are precomputed into
  indexed columns (as Healthchecks does) and "what is overdue" is one query.

`RecordKind.apply` checks all of it in one place and answers a wrong action with a 409
that names the state and the actions it allows, a caller without the right with a 403, a
missing field with a 422; the record's own effect function then does what the action
means, and `apply` returns the event row, which the service writes in the same
transaction as the change. Every kind's history lives in one append-only table, `events`
(NetBox's one change log): who, when, why, the old and new state and the action's data.
Records without states (an account, a unit, a registry record) write their changes there
too, through `change_event`.

The services' own permission (`@permission`) for "act on a record of this kind" is
derived from the declaration (`RecordKind.acting_roles`), never written again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, func, or_, select
from sqlalchemy.orm import Session

from civicgrid.core.db import UtcDateTime, mapper_registry, metadata
from civicgrid.core.errors import CivicGridError, Conflict, Forbidden, InvalidInput
from civicgrid.core.i18n import Locale, message_text, translate
from civicgrid.core.permissions import Actor, Role

# ------------------------------------------------------------------ the event log

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    # The record kind ("case", "warning", "account" …) and the record's id in its table.
    Column("kind", String(32), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor_name", String(120), nullable=False),
    Column("actor_role", String(24), nullable=False),
    Column("from_state", String(24), nullable=True),
    Column("to_state", String(24), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("data", JSON, nullable=False),
    Column("attachments", JSON, nullable=False),
)
# A record's history, oldest first.
Index("ix_events_record", events.c.kind, events.c.record_id, events.c.id)
# What one person did, newest first (the administrators' audit view).
Index("ix_events_actor", events.c.actor_name, events.c.at)


# A feed reads at most this many events a time, and waits this long for a number skipped
# over (an open transaction's) before it counts as rolled back.
FEED_BATCH = 2000
FEED_GAP_SECONDS = 60.0
FEED_MAX_MISSING = 10_000


@dataclass(eq=False)
class Event:
    """One row of a record's history. Written once, never changed."""

    kind: str
    record_id: int | None
    action: str
    actor_name: str
    actor_role: str
    from_state: str | None
    to_state: str | None
    at: datetime
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    attachments: list[str] = field(default_factory=list)
    id: int | None = None


mapper_registry.map_imperatively(Event, events)


SYSTEM_ACTOR_NAME = "system"


class SystemAction(StrEnum):
    """Events the platform writes itself, for any kind."""

    OVERDUE = "overdue"  # a step's deadline passed (红灯)
    CREATE = "create"  # a record without states was created
    CHANGE = "change"  # fields of a record without states changed


class EventLog:
    """The `events` table: append and read, nothing else (history is never rewritten)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event: Event) -> None:
        self.session.add(event)

    def add_all(self, items: Iterable[Event]) -> None:
        self.session.add_all(list(items))

    def of(self, kind: str, record_id: int) -> Sequence[Event]:
        """The history of one record, oldest first."""
        stmt = (
            select(Event)
            .where(events.c.kind == kind, events.c.record_id == record_id)
            .order_by(events.c.id)
        )
        return self.session.execute(stmt).scalars().all()

    def of_kind(self, kind: str, record_ids: Sequence[int]) -> dict[int, list[Event]]:
        """The histories of several records of one kind, each oldest first."""
        found: dict[int, list[Event]] = {}
        for first in range(0, len(record_ids), 500):
            chunk = list(record_ids[first : first + 500])
            stmt = (
                select(Event)
                .where(events.c.kind == kind, events.c.record_id.in_(chunk))
                .order_by(events.c.id)
            )
            for event in self.session.execute(stmt).scalars():
                found.setdefault(int(event.record_id or 0), []).append(event)
        return found

    def newest(self) -> int:
        """The number of the newest event (0 in an empty log): where a feed starts."""
        return int(self.session.execute(select(func.max(events.c.id))).scalar() or 0)

    def feed(
        self, position: FeedPosition, kind: str, *, limit: int = FEED_BATCH, clock: float
    ) -> list[FeedItem]:
        """The events of KIND written since POSITION (which it moves on), oldest first:
        what a page pushed by server-sent events tells its reader, polled by number, so it
        works with any number of server processes. Numbers are drawn before a transaction
        commits, so one that began earlier may commit later than a newer number: numbers
        skipped over stay wanted for FEED_GAP_SECONDS (CLOCK is a monotonic time), then
        count as rolled back."""
        position.forget_old(clock)
        wanted = events.c.id > position.after
        if position.missing:
            wanted = or_(wanted, events.c.id.in_(sorted(position.missing)))
        stmt = (
            select(events.c.id, events.c.kind, events.c.record_id, events.c.action)
            .where(wanted)
            .order_by(events.c.id)
            .limit(limit)
        )
        rows = self.session.execute(stmt).all()
        position.saw([int(row.id) for row in rows], clock)
        return [
            FeedItem(int(row.id), int(row.record_id), str(row.action))
            for row in rows
            if row.kind == kind
        ]


@dataclass(frozen=True)
class FeedItem:
    """One event of a feed: its number, its record and what happened."""

    id: int
    record_id: int
    action: str


@dataclass
class FeedPosition:
    """Where a reader of the event log stands: every event up to AFTER has been read but
    MISSING, the numbers skipped over (not committed when last looked), each with the
    monotonic time it was first missed."""

    after: int
    missing: dict[int, float] = field(default_factory=dict)

    def saw(self, ids: Sequence[int], clock: float) -> None:
        seen = set(ids)
        for number in seen & self.missing.keys():
            del self.missing[number]
        newer = sorted(i for i in seen if i > self.after)
        if not newer:
            return
        expected = self.after + 1
        for number in newer:
            for skipped in range(expected, min(number, expected + FEED_MAX_MISSING)):
                self.missing.setdefault(skipped, clock)
            expected = number + 1
        self.after = newer[-1]
        while len(self.missing) > FEED_MAX_MISSING:
            del self.missing[min(self.missing)]

    def forget_old(self, clock: float) -> None:
        for number, since in list(self.missing.items()):
            if clock - since > FEED_GAP_SECONDS:
                del self.missing[number]


def change_event(
    kind: str,
    record_id: int,
    actor: Actor,
    at: datetime,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    action: str = SystemAction.CHANGE,
    note: str = "",
    data: Mapping[str, Any] | None = None,
) -> Event:
    """The history row of a record without states (an account, a unit, a list): CHANGES
    maps each field to its (old, new) value. Secrets are never passed here, only the fact
    that they changed."""
    return Event(
        kind=kind,
        record_id=record_id,
        action=str(action),
        actor_name=actor.name,
        actor_role=actor.role.value if actor.role else "",
        from_state=None,
        to_state=None,
        at=at,
        note=note,
        data={"changes": {name: [old, new] for name, (old, new) in changes.items()}}
        | dict(data or {}),
    )


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs between BEFORE and AFTER, as (old, new)."""
    return {
        name: (before.get(name), value)
        for name, value in after.items()
        if before.get(name) != value
    }


# ------------------------------------------------------------------ who may act

R = TypeVar("R")


@dataclass(frozen=True)
class Context:
    """Who acts, and when. PROVEN names the relations the caller's credentials already
    establish (e.g. "reporter" for a reporter who proved herself by the case number and
    her phone), which the record itself cannot tell."""

    actor: Actor
    now: datetime
    proven: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Relation(Generic[R]):
    """A relation between a caller and a record ("in its area", "the lead unit", "its
    reporter"): HOLDS tells whether it holds; REFUSAL is the error when it does not (a
    403 naming what is missing, or a 409 when the caller's relation is the wrong one for
    this action, such as the lead unit reporting in to its own whistle)."""

    name: str
    holds: Callable[[R, Context], bool]
    refusal: Callable[[R, Context], CivicGridError]

    def check(self, record: R, context: Context) -> None:
        if self.name in context.proven or self.holds(record, context):
            return
        raise self.refusal(record, context)


def in_area(area_path_of: Callable[[Any], str], code_of: Callable[[Any], str]) -> Relation[Any]:
    """The record lies in the caller's area (an area-bound caller; callers bound to no
    area see everything)."""
    return Relation(
        "in_area",
        lambda record, ctx: ctx.actor.covers(area_path_of(record)),
        lambda record, ctx: Forbidden("forbidden_area", code=code_of(record)),
    )


@dataclass(frozen=True)
class Grant(Generic[R]):
    """ROLES may take the action when every one of RELATIONS holds (none: the role alone)."""

    roles: frozenset[Role]
    relations: tuple[Relation[R], ...] = ()


def grant(roles: Iterable[Role], *relations: Relation[R]) -> Grant[R]:
    return Grant(frozenset(roles), tuple(relations))


ClockRule = Literal["restart", "resume", "keep"]


@dataclass(frozen=True)
class ActionSpec(Generic[R]):
    """One action of a kind: the states it may start from and where each leads (MOVES),
    who may take it (GRANTS, any one suffices), the fields it needs (REQUIRES, read from
    the command), and what it does to the step clock when the state changes ("restart":
    the new state's step starts now; "resume": a paused step continues with the time it
    had left)."""

    name: str
    moves: Mapping[str, str]
    grants: tuple[Grant[R], ...]
    requires: tuple[str, ...] = ()
    clock: ClockRule = "restart"

    def roles(self) -> frozenset[Role]:
        return frozenset(role for g in self.grants for role in g.roles)


# ------------------------------------------------------------------ deadlines


WARNING_SHARE = 0.75  # 黄灯 at 75% of a step's time, 红灯 at 100%


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"  # 黄灯: past the warning share of the step's time
    RED = "red"  # 红灯: past the deadline
    NONE = "none"  # no running clock (paused, finished)


class WrongState(Conflict):
    """409: the record's state does not allow the action. The API's answer keeps the codes
    (`state` and `allowed`, for a caller's program); the message names the state and the
    actions in the reader's words, from the labels "<states>.<state>" and
    "<actions>.<action>" of the record kind's label families (RecordKind.labels), the code
    where a label is not written."""

    def __init__(
        self,
        prefix: str,
        labels: tuple[str, str],
        record_id: object,
        state: str,
        action: str,
        allowed: list[str],
        reachable: list[str],
    ) -> None:
        self.labels = labels
        self.allowed_actions = allowed
        self.reachable = reachable
        super().__init__(
            f"{prefix}_wrong_state",
            id=record_id,
            state=state,
            action=action,
            allowed=", ".join(allowed) or "-",
            next=", ".join(reachable) or "-",
        )
        self.args = (self.message("en"),)

    def message(self, locale: Locale) -> str:
        states, actions = self.labels

        def state(code: str) -> str:
            return message_text(f"{states}.{code}", locale) or code

        def act(code: str) -> str:
            return message_text(f"{actions}.{code}", locale) or code

        comma = "、" if locale == "zh" else ", "
        words = {
            **self.params,
            "state": state(str(self.params["state"])),
            "action": act(str(self.params["action"])),
            "allowed": comma.join(act(a) for a in self.allowed_actions) or "-",
            "next": comma.join(state(s) for s in self.reachable) or "-",
        }
        return translate(self.message_key, locale, words)

    def details(self) -> dict[str, Any]:
        return {"state": self.params["state"], "allowed": list(self.allowed_actions)}


class FieldRequired(InvalidInput):
    """422: an action on a record needs a field left empty. The parameters keep the codes
    (`field` and `action`, for an API caller's program); the message names both in the
    reader's words: "请填写吹哨的理由" / "Give the reason for the whistle". A record kind's
    prefix (RecordKind.messages) gives the template "<prefix>_field_required", or for a
    field asked for in other words "<prefix>_field_required.<field>" ("请上传…的照片"), and
    the labels "<prefix>_act.<action>" and "<prefix>_field.<field>"."""

    def __init__(self, prefix: str, action: str, field_name: str) -> None:
        self.prefix = prefix
        super().__init__(f"{prefix}_field_required", field=field_name, action=action)
        self.args = (self.message("en"),)

    def message(self, locale: Locale) -> str:
        action, name = str(self.params["action"]), str(self.params["field"])
        words = {
            **self.params,
            "action": message_text(f"{self.prefix}_act.{action}", locale) or action,
            "field": message_text(f"{self.prefix}_field.{name}", locale) or name,
        }
        own = f"{self.message_key}.{name}"
        key = own if message_text(own, locale) is not None else self.message_key
        return translate(key, locale, words)


# ------------------------------------------------------------------ the kind


@dataclass(frozen=True)
class RecordKind(Generic[R]):
    """A kind of record on the kernel. NAME is its `events.kind`; STATE_FIELD the record's
    attribute holding its state; MESSAGES the prefix of its message keys
    ("<prefix>_wrong_state", "<prefix>_field_required"); STEPS maps a state to the step it
    waits for, whose hours STEP_HOURS gives (None: no clock in that state); OPEN_STATES
    are those in which the record still runs."""

    name: str
    actions: Mapping[str, ActionSpec[R]]
    open_states: frozenset[str]
    messages: str
    state_field: str = "state"
    steps: Mapping[str, str] = field(default_factory=dict)
    step_hours: Callable[[R, str], float | None] | None = None
    warning_share: float = WARNING_SHARE
    # The label families a person reads the states and actions in (WrongState): by default
    # "<messages>_state.<state>" and "<messages>_act.<action>".
    state_labels: str | None = None
    action_labels: str | None = None

    # -- reading the declaration

    def labels(self) -> tuple[str, str]:
        """The label families of the states and the actions (WrongState)."""
        return (
            self.state_labels or f"{self.messages}_state",
            self.action_labels or f"{self.messages}_act",
        )

    def state_of(self, record: R) -> str:
        return str(getattr(record, self.state_field))

    def spec(self, action: str) -> ActionSpec[R]:
        return self.actions[action]

    def allowed(self, state: str) -> list[str]:
        """The actions the state allows, in declaration order."""
        return [name for name, spec in self.actions.items() if state in spec.moves]

    def acting_roles(self) -> frozenset[Role]:
        """Every role some action grants: the rule of the service that acts on records of
        this kind (the kind then decides action by action)."""
        return frozenset(role for spec in self.actions.values() for role in spec.roles())

    # -- checking

    def check_state(self, record: R, action: str) -> ActionSpec[R]:
        """409 unless the record's state allows ACTION, naming the state and what it allows."""
        spec = self.actions[action]
        state = self.state_of(record)
        if state not in spec.moves:
            allowed = self.allowed(state)
            reachable = {self.actions[a].moves[state] for a in allowed} - {state}
            raise WrongState(
                self.messages,
                self.labels(),
                getattr(record, "id", None),
                state,
                action,
                allowed,
                sorted(reachable),
            )
        return spec

    def authorize(self, record: R, action: str, context: Context) -> None:
        """403 unless the caller may take ACTION on the record: a grant for her role whose
        relations all hold. Of several grants for her role, the first one's refusal is
        the one she hears."""
        spec = self.actions[action]
        role = context.actor.role
        mine = [g for g in spec.grants if role is not None and role in g.roles]
        if not mine:
            raise Forbidden("forbidden_role", role=role.value if role else "-")
        refusal: CivicGridError | None = None
        for candidate in mine:
            try:
                for relation in candidate.relations:
                    relation.check(record, context)
            except CivicGridError as error:
                refusal = refusal or error
                continue
            return
        assert refusal is not None
        raise refusal

    def has_standing(self, record: R, context: Context) -> bool:
        """True when the caller may take some action of this kind on the record, in some
        state: a grant for her role whose relations hold. Whoever has none learns nothing
        of the record's state from a refusal."""
        role = context.actor.role
        for spec in self.actions.values():
            for candidate in spec.grants:
                if role is None or role not in candidate.roles:
                    continue
                try:
                    for relation in candidate.relations:
                        relation.check(record, context)
                except CivicGridError:
                    continue
                return True
        return False

    def may(self, record: R, action: str, context: Context) -> bool:
        """True when ACTION is allowed in the record's state and for the caller now."""
        if self.state_of(record) not in self.actions[action].moves:
            return False
        try:
            self.authorize(record, action, context)
        except CivicGridError:
            return False
        return True

    def available(self, record: R, context: Context) -> list[str]:
        """The actions the caller could take on the record right now (for buttons)."""
        return [
            name for name in self.allowed(self.state_of(record)) if self.may(record, name, context)
        ]

    def require(self, action: str, command: object) -> None:
        """422 naming the first field ACTION needs that COMMAND leaves empty."""
        for name in self.actions[action].requires:
            value = getattr(command, name, None)
            if value is None or value == "" or value == []:
                raise FieldRequired(self.messages, action, name)

    # -- acting

    def apply(
        self,
        record: R,
        action: str,
        context: Context,
        effect: Callable[[], Mapping[str, Any] | None],
        *,
        command: object = None,
        note: str = "",
        attachments: Sequence[str] = (),
    ) -> Event:
        """Carry out ACTION on RECORD for the caller: check that she may act on the record
        at all (403, before anything about its state is said), the state (409), her right
        to this action (403) and the fields it needs (422), run EFFECT (the domain's
        meaning of the action; it may refuse too, and returns the event's data), move to
        the new state, start the new step's clock, and return the event row."""
        if not self.has_standing(record, context):
            self.authorize(record, action, context)  # raises the refusal she would hear
        spec = self.check_state(record, action)
        self.authorize(record, action, context)
        self.require(action, command)
        before = self.state_of(record)
        data = dict(effect() or {})
        after = spec.moves[before]
        setattr(record, self.state_field, type(getattr(record, self.state_field))(after))
        if after != before:
            self.restart_clock(record, context.now, resume=spec.clock == "resume")
        if hasattr(record, "updated_at"):
            changed: Any = record
            changed.updated_at = context.now
        return self.event(
            record,
            action,
            context.actor,
            context.now,
            from_state=before,
            note=note,
            data=data,
            attachments=attachments,
        )

    def event(
        self,
        record: R,
        action: str,
        actor: Actor | None,
        at: datetime,
        *,
        from_state: str | Literal["current"] | None = "current",
        note: str = "",
        data: Mapping[str, Any] | None = None,
        attachments: Sequence[str] = (),
    ) -> Event:
        """A history row for RECORD: an action's, or one that changes no state (a report
        coming in, a voice added, an overdue mark). ACTOR None is the platform itself."""
        state = self.state_of(record)
        return Event(
            kind=self.name,
            record_id=getattr(record, "id", None),
            action=str(action),
            actor_name=actor.name if actor is not None else SYSTEM_ACTOR_NAME,
            actor_role=actor.role.value if actor is not None and actor.role else "",
            from_state=state if from_state == "current" else from_state,
            to_state=state,
            at=at,
            note=note,
            data=dict(data or {}),
            attachments=list(attachments),
        )

    # -- the step clock (records with deadlines carry step_started_at, deadline_at,
    #    warn_at, overdue and paused_remaining_seconds)

    def restart_clock(self, record: R, now: datetime, *, resume: bool = False) -> None:
        """The record's current state starts its step now; with RESUME a paused step
        continues with the time it had left instead."""
        if self.step_hours is None:
            return
        r: Any = record
        r.step_started_at = now
        r.overdue = False
        step = self.steps.get(self.state_of(record))
        hours = self.step_hours(record, step) if step is not None else None
        remaining = r.paused_remaining_seconds
        if hours is None:
            r.deadline_at = r.warn_at = None
            return
        r.paused_remaining_seconds = None
        if resume and remaining is not None:
            self.set_deadline(record, now, now + timedelta(seconds=max(remaining, 0)))
        else:
            self.set_deadline(record, now, now + timedelta(hours=hours))

    def recompute_deadline(self, record: R) -> None:
        """The current step keeps its start; its length follows new limits or priority."""
        if self.step_hours is None:
            return
        r: Any = record
        step = self.steps.get(self.state_of(record))
        hours = self.step_hours(record, step) if step is not None else None
        if hours is not None and r.step_started_at is not None:
            started = r.step_started_at
            self.set_deadline(record, started, started + timedelta(hours=hours))

    def set_deadline(self, record: R, started: datetime, deadline: datetime) -> None:
        r: Any = record
        r.deadline_at = deadline
        r.warn_at = started + (deadline - started) * self.warning_share

    def pause_clock(self, record: R, now: datetime) -> None:
        """Keep the time the step has left, for a later "resume"."""
        r: Any = record
        if r.deadline_at is not None:
            r.paused_remaining_seconds = (r.deadline_at - now).total_seconds()

    def light(self, record: R, now: datetime) -> Light:
        r: Any = record
        if r.deadline_at is None or self.state_of(record) not in self.open_states:
            return Light.NONE
        if now >= r.deadline_at:
            return Light.RED
        if r.warn_at is not None and now >= r.warn_at:
            return Light.YELLOW
        return Light.GREEN

    def mark_overdue(self, record: R, now: datetime) -> Event:
        """The scheduler's mark (红灯) when a step's deadline has passed."""
        r: Any = record
        r.overdue = True
        if hasattr(record, "updated_at"):
            r.updated_at = now
        return self.event(
            record,
            SystemAction.OVERDUE,
            None,
            now,
            data={"deadline_at": r.deadline_at.isoformat() if r.deadline_at else None},
        )
