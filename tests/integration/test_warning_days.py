"""The days of early warning are the city's (CIVICGRID_TIMEZONE): the day a scan looks at,
and the day each case counts on."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import update

from civicgrid.cases.repository import cases
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM
from civicgrid.insight.warnings.repository import WarningRepository
from civicgrid.insight.warnings.services import scan_warnings
from tests.integration.test_insight_warnings import Town, town  # noqa: F401  (fixture)

# 17:30 UTC on 18 November is 01:30 on the 19th in Shanghai, the platform's default zone.
LATE_EVENING_UTC = datetime(2026, 11, 18, 17, 30, tzinfo=UTC)


def test_a_scan_looks_at_the_citys_today(town: Town) -> None:  # noqa: F811
    town.platform.warnings.clock = lambda: LATE_EVENING_UTC
    with UnitOfWork(town.platform.session_factory) as uow:
        report = scan_warnings(uow, SYSTEM, town.platform.warnings)
    assert report.day == date(2026, 11, 19)


def test_a_case_counts_on_the_citys_day(town: Town) -> None:  # noqa: F811
    grid = town.grids[0]
    town.add_cases(grid, "EP01", date(2026, 11, 18), 1)
    with UnitOfWork(town.platform.session_factory) as uow:
        uow.session.execute(
            update(cases)
            .where(cases.c.grid_code == grid.code, cases.c.category_code == "EP01")
            .values(created_at=LATE_EVENING_UTC)
        )
        uow.commit()
        repo = WarningRepository(uow.session)
        in_shanghai = repo.case_days(date(2026, 11, 19), date(2026, 11, 20), "Asia/Shanghai")
        in_london = repo.case_days(date(2026, 11, 18), date(2026, 11, 19), "Europe/London")
    assert (grid.code, "EP01", date(2026, 11, 19)) in in_shanghai
    assert (grid.code, "EP01", date(2026, 11, 18)) in in_london
