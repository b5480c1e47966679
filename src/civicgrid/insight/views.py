"""What other domains may read of insight (assessment, the command centre): plain reads
scoped by an area path, with no rule of their own — the reader's service holds the rule.

- `open_warnings`: the open hot spots and surges of an area, newest first;
- `hot_issues_of`: the hot issues among the recent cases of an area (the insight page's
  board, kept for a minute);
- `reply_quality`: each closed case's answer scored (0–100), the figure assessment counts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.orm import Session

from civicgrid.cases.domain import Action, Status
from civicgrid.cases.views import case_event_rows, case_rows
from civicgrid.insight.hot import HotIssue, Post, hot_issues
from civicgrid.insight.replies import Exchange, score_replies
from civicgrid.insight.warnings.domain import RiskWarning
from civicgrid.insight.warnings.repository import WarningFilter, WarningRepository

REPLY_ACTIONS = (Action.RESOLVE.value, Action.RESOLVE_ON_SPOT.value, Action.CLOSE.value)
MAX_BOARD_CASES = 5000  # the newest cases grouped into hot issues at once
BOARD_SECONDS = 60.0


def open_warnings(session: Session, scope_path: str | None, limit: int = 20) -> list[RiskWarning]:
    """The open warnings of the area at SCOPE_PATH (None: the city), newest first."""
    return list(
        WarningRepository(session).list(
            WarningFilter(scope_path=scope_path, open_only=True), limit=limit
        )
    )


@dataclass
class BoardIssue:
    """A hot issue of the platform's own cases."""

    issue: HotIssue
    statuses: dict[int, str]  # case id → status


_boards: dict[tuple[Any, ...], tuple[float, list[BoardIssue]]] = {}
_boards_lock = threading.Lock()


def _area_condition(scope_path: str | None) -> Any:
    return case_rows.c.area_path.startswith(scope_path, autoescape=True) if scope_path else true()


def hot_issues_of(
    session: Session,
    scope_path: str | None,
    now: datetime,
    *,
    days: int = 30,
    limit: int = 20,
    half_life_days: float = 7.0,
) -> list[BoardIssue]:
    """Recent cases of the area at SCOPE_PATH (reported in the last DAYS, open or closed;
    not voided) about the same problem in the same place, grouped into hot issues: the
    hottest LIMIT, heat from their count, supporters (附议) and recency.

    Only cases of one category in one community are compared (hot.py's grouping runs in
    each): a case's category and place are known, so a drain in one estate is never
    chained to a drain across the city by similar wording, and thousands of cases group in
    a few seconds. Heat decays from NOW, so the board's issues compare with each other.
    The board is kept for BOARD_SECONDS while no case enters or leaves the window (several
    viewers, each refreshing every minute, cost one grouping)."""
    window = and_(
        case_rows.c.created_at >= now - timedelta(days=days),
        case_rows.c.status != Status.VOIDED,
        _area_condition(scope_path),
    )
    count, newest = session.execute(
        select(func.count(), func.max(case_rows.c.id)).select_from(case_rows).where(window)
    ).one()
    database = str(session.get_bind().engine.url)
    key = (database, scope_path, days, limit, half_life_days, count, newest)
    with _boards_lock:
        kept = _boards.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
    rows = session.execute(
        select(
            case_rows.c.id,
            case_rows.c.title,
            case_rows.c.description,
            case_rows.c.created_at,
            case_rows.c.supporters,
            case_rows.c.status,
            case_rows.c.category_code,
            case_rows.c.area_path,
        )
        .where(window)
        .order_by(case_rows.c.created_at.desc())
        .limit(MAX_BOARD_CASES)
    ).all()
    partitions: dict[tuple[str, str], list[Post]] = {}
    for row in rows:
        community = row.area_path.rstrip("/").rsplit("/", 1)[0]  # the grid's parent
        partitions.setdefault((row.category_code, community), []).append(
            Post(
                id=str(row.id),
                title=(row.title or row.description[:40]).strip(),
                text=row.description or "",
                at=row.created_at,
                likes=row.supporters or 0,
            )
        )
    status = {row.id: Status(row.status).value for row in rows}
    issues = [
        issue
        for posts in partitions.values()
        if len(posts) >= 2
        for issue in hot_issues(posts, half_life_days=half_life_days)
    ]
    for issue in issues:
        issue.heat = round(sum(_heat(p, now, half_life_days) for p in issue.posts), 2)
    issues.sort(key=lambda issue: -issue.heat)
    board = [
        BoardIssue(issue, {int(p.id): status[int(p.id)] for p in issue.posts})
        for issue in issues[:limit]
    ]
    with _boards_lock:
        if len(_boards) > 100:
            _boards.clear()
        _boards[key] = (time.monotonic() + BOARD_SECONDS, board)
    return board


def _heat(post: Post, now: datetime, half_life_days: float) -> float:
    """A case's share of its issue's heat: 1 + ln(1 + supporters), halved every
    HALF_LIFE_DAYS of age."""
    age_days = max(0.0, (now - post.at).total_seconds() / 86400) if post.at else 0.0
    return (1 + math.log1p(max(post.likes, 0))) * 0.5 ** (age_days / half_life_days)


def reply_notes(session: Session, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The answers each case's reporters heard (its resolve and close notes), oldest first."""
    notes: dict[int, list[str]] = {}
    ids = list(case_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for case_id, note in session.execute(
            select(case_event_rows.c.case_id, case_event_rows.c.note)
            .where(
                case_event_rows.c.case_id.in_(chunk), case_event_rows.c.action.in_(REPLY_ACTIONS)
            )
            .order_by(case_event_rows.c.case_id, case_event_rows.c.at, case_event_rows.c.id)
        ):
            if note and note.strip():
                notes.setdefault(case_id, []).append(note.strip())
    return notes


def reply_quality(session: Session, case_ids: Sequence[int]) -> dict[int, float]:
    """Each closed case's answer scored 0–100 against its description (insight.replies),
    the scorer fitted on these cases together."""
    if not case_ids:
        return {}
    rows: list[Any] = []
    ids = list(case_ids)
    for start in range(0, len(ids), 500):
        rows += session.execute(
            select(
                case_rows.c.id,
                case_rows.c.title,
                case_rows.c.description,
                case_rows.c.created_at,
                case_rows.c.resolved_at,
                case_rows.c.closed_at,
                case_rows.c.resolution,
            ).where(
                case_rows.c.id.in_(ids[start : start + 500]),
                case_rows.c.status == Status.CLOSED,
            )
        ).all()
    if not rows:
        return {}
    notes = reply_notes(session, [row.id for row in rows])
    exchanges = [
        Exchange(
            title=row.title or "",
            question=row.description or "",
            reply="\n".join(dict.fromkeys(notes.get(row.id) or [row.resolution or ""])),
            asked_at=row.created_at,
            replied_at=row.resolved_at or row.closed_at,
        )
        for row in rows
    ]
    scores = score_replies(exchanges)
    return {row.id: round(score.total, 1) for row, score in zip(rows, scores, strict=True)}
