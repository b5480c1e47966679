"""One definition, three engines: every preset scheme's integer counts (numerator and
denominator per object and indicator) are identical on DuckDB (the columnar snapshot),
on PostgreSQL (the live fact table; when the tests run on PostgreSQL) and on Spark (local
mode, over Parquet written from the same facts; with CIVICGRID_TEST_SPARK=1)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert

from civicgrid.assess import engines, services
from civicgrid.assess.domain import FACT_FIELDS, Kind, current_month, month_window, previous_month
from civicgrid.assess.engines import (
    LIVE,
    DuckDBEngine,
    Engine,
    PostgresEngine,
    Scope,
    SparkEngine,
    facts_to_arrow,
)
from civicgrid.assess.repository import FactRepository, facts
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import install_demo_city
from tests.conftest import SMALL_CITY

Counts = dict[tuple[str, str, str], engines.Counts]
NOW = datetime(2025, 4, 10, 4, tzinfo=UTC)


def random_facts(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """COUNT fact rows with every flag and count at random over three months, keys from
    small sets so objects have many cases each, and nulls where the real ones have them."""
    rng = random.Random(seed)
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    end = int(NOW.timestamp())
    rows = []
    for case_id in range(1, count + 1):
        row: dict[str, Any] = {}
        for name, kind in FACT_FIELDS.items():
            if kind is Kind.BOOL:
                row[name] = rng.random() < 0.5
            elif kind is Kind.INT:
                row[name] = rng.choice([0, 0, 0, 1, 2])
            elif kind is Kind.FLOAT:
                row[name] = None if rng.random() < 0.2 else round(rng.uniform(0, 90), 2)
            else:
                row[name] = None if rng.random() < 0.1 else f"{name[:3]}{rng.randint(1, 6)}"
        grid = rng.randint(1, 40)
        reported = rng.randint(start, end - 1)
        row.update(
            case_id=case_id,
            area_path=f"/C/D{grid % 3}/S{grid % 6}/M{grid % 12}/G{grid}/",
            grid_code=f"G{grid}",
            community_code=f"M{grid % 12}",
            street_code=f"S{grid % 6}",
            district_code=f"D{grid % 3}",
            reported_ts=reported,
            closed_ts=reported + rng.randint(3600, 40 * 86400) if row["closed"] else None,
            satisfaction=rng.randint(1, 5) if row["rated"] else None,
            channel=rng.choice(["hotline", "grid_worker", "resident_web"]),
            snapshot=LIVE if case_id % 5 else "2025-03",
            refreshed_seq=1,
        )
        rows.append(row)
    return rows


def counts_on(engine: Engine) -> Counts:
    book = services._parse_book(0, services.presets())
    found: Counts = {}
    for snapshot, month in ((LIVE, "2025-03"), (LIVE, "2025-04"), ("2025-03", "2025-03")):
        window = month_window(month, NOW, "Asia/Shanghai")
        for area in (None, "/C/D1/"):
            scope = Scope(snapshot, window, area, excluded={None: [7], "closure_rate": [8, 9]})
            jobs = [
                ([book.indicators[i.indicator] for i in s.items], s.object_type)
                for s in book.schemes.values()
            ]
            for scheme, counted in zip(
                book.schemes, engines.counts_many(engine, jobs, scope), strict=True
            ):
                found[snapshot, month, f"{scheme}:{area}"] = counted
    return found


def test_the_engines_count_random_facts_alike(scratch: Platform, tmp_path: Path) -> None:
    rows = random_facts(3000)
    duck = DuckDBEngine(None)
    duck.load(facts_to_arrow(rows))
    expected = counts_on(duck)
    assert sum(n for c in expected.values() for o in c.values() for n, _ in o.values()) > 1000
    url = scratch.settings.database_url
    if url.startswith("postgresql"):
        with UnitOfWork(scratch.session_factory) as uow:
            FactRepository(uow.session).clear()
            uow.session.execute(insert(facts), rows)
            uow.commit()
        try:
            assert counts_on(PostgresEngine(url)) == expected
        finally:
            with UnitOfWork(scratch.session_factory) as uow:
                FactRepository(uow.session).clear()
                uow.commit()
    if os.environ.get("CIVICGRID_TEST_SPARK") == "1":
        pq.write_table(facts_to_arrow(rows), tmp_path / "facts.parquet")
        assert counts_on(SparkEngine(tmp_path / "facts.parquet")) == expected


@pytest.fixture
def facts_city(scratch: Platform) -> Iterator[Platform]:
    plan = DemoCityBuilder(seed=11).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=scratch.cases, cases=150)
        services.refresh_facts(uow, SYSTEM, scratch.assess)
        month = previous_month(current_month(utcnow(), scratch.assess.timezone))
        later = utcnow() + timedelta(days=40)
        scratch.assess.clock = lambda: later
        services.freeze_month(uow, SYSTEM, scratch.assess, month)
        scratch.assess.clock = utcnow
    yield scratch


def every_count(platform: Platform, engine: Engine) -> Counts:
    """Every scheme's counts, for this month (live) and last month (frozen and live)."""
    ports = platform.assess
    now = ports.clock()
    this = current_month(now, ports.timezone)
    last = previous_month(this)
    found: Counts = {}
    with UnitOfWork(platform.session_factory) as uow:
        book = services.rulebook(uow.session)
    for snapshot, month in ((LIVE, this), (LIVE, last), (last, last)):
        window = month_window(month, now, ports.timezone)
        for scheme in book.schemes.values():
            indicators = [book.indicators[i.indicator] for i in scheme.items]
            scope = Scope(snapshot, window, excluded={None: [1]})
            found[snapshot, month, scheme.code] = engines.counts(
                engine, indicators, scheme.object_type, scope
            )
    return found


def test_duckdb_and_postgresql_count_alike(facts_city: Platform) -> None:
    duck = every_count(facts_city, facts_city.assess.snapshot())
    assert sum(len(c) for c in duck.values()) > 50  # objects counted, not empty answers
    assert any(n for c in duck.values() for o in c.values() for n, _ in o.values())
    url = facts_city.settings.database_url
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL's live fact table: run the tests with CIVICGRID_TEST_POSTGRES_URL")
    assert every_count(facts_city, PostgresEngine(url)) == duck


@pytest.mark.skipif(
    os.environ.get("CIVICGRID_TEST_SPARK") != "1", reason="set CIVICGRID_TEST_SPARK=1 for Spark"
)
def test_spark_counts_as_duckdb_does(facts_city: Platform, tmp_path: Path) -> None:
    duck = facts_city.assess.snapshot()
    with duck.connection() as connection:
        table = connection.sql(f"SELECT * FROM {engines.TABLE}").to_arrow_table()
    pq.write_table(table, tmp_path / "facts.parquet")
    spark = SparkEngine(tmp_path / "facts.parquet")
    assert every_count(facts_city, spark) == every_count(facts_city, duck)
