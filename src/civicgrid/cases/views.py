"""What other domains may read of cases: the read views the cases domain declares.

Insight, transparency, the warnings and Open311 read cases through these, never through
the cases tables (an import-linter contract holds the line): named, read-only selectables
with the columns a reader may use, and small functions where a read is more than a select.
So cases can change how it stores a case and its timeline (now rows of the platform's
event log, core.workflow.events) by changing this module alone, and the readers' SQL stays
the same.

A view is a plain selection used as a subquery, which both databases flatten into
the reader's query (SQLite's subquery flattening, PostgreSQL's pull-up): the reader's
conditions reach the base table, so the indexes serve them as if the table were named and
the columns a reader does not select are never read (index-only scans stay index-only).
tests/integration/test_case_views.py checks the plans. A view must stay a plain
selection, columns and a condition (no DISTINCT, LIMIT, aggregate or union), for that to
hold.

The indexes kept for these readers are declared here, beside the view they serve.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Index, and_, select
from sqlalchemy.orm import Session

from civicgrid.cases.domain import CASE_KIND, AuthorityRule, Category, Status
from civicgrid.cases.repository import (
    TAXONOMY_REVISION,
    TaxonomyRepository,
    case_reporters,
    cases,
)
from civicgrid.core.workflow import SystemAction, events

__all__ = [
    "TAXONOMY_REVISION",
    "authority_list",
    "case_event_rows",
    "case_rows",
    "cases_reported_by",
    "reporter_names",
    "taxonomy",
]

# ------------------------------------------------------------------ cases

case_rows = select(
    cases.c.id,
    cases.c.status,
    cases.c.channel,  # where it came from (hotline, grid worker, …)
    cases.c.category_code,
    cases.c.title,
    cases.c.description,
    cases.c.address,  # as typed by the reporter: not for the public when reporter_hidden
    cases.c.lat,
    cases.c.lon,
    cases.c.grid_code,
    cases.c.area_path,
    cases.c.department_code,  # the lead unit
    cases.c.suggested_department_code,  # the unit the authority list named
    cases.c.created_at,  # reported
    cases.c.updated_at,
    cases.c.deadline_at,  # of the step the case waits for; None when it waits for none
    cases.c.warn_at,  # when that step turns yellow (75 % of its time)
    cases.c.resolved_at,
    cases.c.closed_at,
    cases.c.satisfaction,  # the reporter's rating, 1–5
    cases.c.resolution,
    cases.c.supporters,  # residents who added their voice
    cases.c.reporter_hidden,  # the reporter asked not to be named to the public
    cases.c.merged_into_id,
).subquery("case_rows")
"""Every case, one row each, with the columns other domains may read (no reporter, no
contact, no routing internals)."""

# The figures of an area are read per grid (an area is the list of its grids, the whole
# city too), so each index leads with the grid and then the time: the database visits
# only the area's grids and only the period, and finds every other column in the index
# (transparency.repository).
# Cases reported in a period by category and state:
Index(
    "ix_cases_grid_created",
    cases.c.grid_code,
    cases.c.created_at,
    cases.c.status,
    cases.c.category_code,
)
# Cases closed in a period: time to close, rating, and the number for the overdue marks.
Index(
    "ix_cases_grid_closed",
    cases.c.grid_code,
    cases.c.closed_at,
    cases.c.created_at,
    cases.c.satisfaction,
    cases.c.id,
    postgresql_where=cases.c.status == Status.CLOSED.value,
    sqlite_where=cases.c.status == Status.CLOSED.value,
)

# ------------------------------------------------------------------ the timeline

# "Was this case ever overdue?" (the on-time rate): the cases' overdue marks alone, a small
# part of the event log, so a year's closed cases are matched against them in one join.
Index(
    "ix_events_case_overdue",
    events.c.record_id,
    postgresql_where=and_(events.c.kind == CASE_KIND, events.c.action == SystemAction.OVERDUE),
    sqlite_where=and_(events.c.kind == CASE_KIND, events.c.action == SystemAction.OVERDUE),
)
case_event_rows = (
    select(
        events.c.id.label("id"),
        events.c.record_id.label("case_id"),
        events.c.action.label("action"),
        events.c.actor_name.label("actor_name"),
        events.c.actor_role.label("actor_role"),
        events.c.from_state.label("from_status"),
        events.c.to_state.label("to_status"),
        events.c.at.label("at"),
        events.c.note.label("note"),
        events.c.data.label("data"),
    )
    .where(and_(events.c.kind == CASE_KIND))
    .subquery("case_event_rows")
)
"""Every case's timeline: its rows in the platform's event log, oldest first by id."""

# ------------------------------------------------------------------ reads


def reporter_names(session: Session, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names the reporters of these cases gave (none empty), by case: only to take them
    out of text that is published."""
    found: dict[int, list[str]] = {}
    for first in range(0, len(case_ids), 500):
        chunk = list(case_ids[first : first + 500])
        stmt = select(case_reporters.c.case_id, case_reporters.c.name).where(
            and_(case_reporters.c.case_id.in_(chunk), case_reporters.c.name != "")
        )
        for case_id, name in session.execute(stmt):
            found.setdefault(int(case_id), []).append(str(name))
    return found


def taxonomy(session: Session) -> list[Category]:
    """Every category, active or not (old cases keep theirs), by code; level-1 groups have
    no parent_code. Read-only: change them through cases.services."""
    return list(TaxonomyRepository(session).categories())


def authority_list(session: Session) -> list[AuthorityRule]:
    """The authority list (事权清单), by category, level and line. Read-only."""
    return list(TaxonomyRepository(session).rules())


def cases_reported_by(session: Session, username: str) -> list[int]:
    """The cases the account USERNAME reported or joined as a reporter (not as a supporter):
    whose contacts are hers, for the audit log's "who read my data"."""
    joined = select(case_reporters.c.case_id).where(
        case_reporters.c.username == username, case_reporters.c.supporter.is_(False)
    )
    stmt = select(cases.c.id).where(
        (cases.c.reporter_username == username) | cases.c.id.in_(joined)
    )
    return list(session.execute(stmt.order_by(cases.c.id)).scalars())
