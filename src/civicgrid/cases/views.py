"""The read views the cases domain declares for other domains (cosmicpython's views.py).

Insight, transparency, Open311 and the warnings read cases through these named, read-only
selectables, never through the cases domain's tables, so the cases domain may change how
it stores a case and its timeline by changing only this module.
"""

from __future__ import annotations

from sqlalchemy import and_, select

from civicgrid.cases.domain import CASE_KIND
from civicgrid.core.workflow import events

# A case's timeline: its rows in the platform's event log.
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
