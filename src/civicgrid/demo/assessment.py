"""The demo city's assessment history: the facts derived from the played cases, every
month that has ended frozen with its results, and an appeal accepted on the last one, so
the rankings have months to move between and the appeal page something to show."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from civicgrid.assess import services as assess
from civicgrid.assess.domain import current_month, month_window, previous_month
from civicgrid.assess.ports import AssessPorts
from civicgrid.assess.repository import facts
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import ADMIN_ROLES, Actor, permission

# The months of history the demo plays its cases over (about three, so rankings move).
DEMO_DAYS = 95


@dataclass
class DemoAssessment:
    frozen: list[str] = field(default_factory=list)
    appeal: int | None = None


@permission(ADMIN_ROLES, "Freeze the demo city's past months and file its appeals")
def install_demo_assessment(uow: UnitOfWork, actor: Actor, ports: AssessPorts) -> DemoAssessment:
    """Derive the facts, freeze each month of the demo's history that has ended, and have
    one unit appeal a case of the last one, accepted by the assessor."""
    done = DemoAssessment()
    assess.refresh_facts(uow, actor, ports)
    now = ports.clock()
    month = previous_month(current_month(now, ports.timezone))
    months = []
    for _ in range(DEMO_DAYS // 28):
        window = month_window(month, now, ports.timezone)
        counted = uow.session.execute(
            select(func.count())
            .select_from(facts)
            .where(
                facts.c.snapshot == "live",
                facts.c.reported_ts >= window.start_ts,
                facts.c.reported_ts < window.end_ts,
            )
        ).scalar()
        if counted:
            months.append(month)
        month = previous_month(month)
    for label in reversed(months):
        assess.freeze_month(uow, actor, ports, label)
        done.frozen.append(label)
    if done.frozen:
        last = done.frozen[-1]
        row = uow.session.execute(
            select(facts.c.case_id, facts.c.department_code)
            .where(
                facts.c.snapshot == last,
                facts.c.unit_late.is_(True),
                facts.c.department_code.is_not(None),
            )
            .order_by(facts.c.case_id)
            .limit(1)
        ).first()
        if row is not None:
            appeal = assess.file_appeal(
                uow,
                actor,
                ports,
                last,
                row.case_id,
                "连续暴雨，施工条件不具备，已向分拨中心报备（演示申诉）",
                object_type="unit",
            )
            assess.decide_appeal(
                uow, actor, ports, appeal.id or 0, True, "情况属实，予以核减（演示）"
            )
            done.appeal = appeal.id
    return done
