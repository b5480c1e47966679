"""Assessment at a megacity's scale: the full monthly assessment (every preset scheme of
every object type — units, grids, grid workers, dispatchers, communities, streets,
districts — with the median and 90th percentile of each step's hours) over a year of
cases, on DuckDB, PostgreSQL and Spark, and a 30-page ranking PDF.

    .venv/bin/python bench/assess.py                      # 10 M on DuckDB, 1 M on PostgreSQL,
                                                          # 10 M on Spark, the PDF
    .venv/bin/python bench/assess.py --cases 1000000 --no-spark --no-postgres

The fact rows are generated directly (a year of Beijing's 12345 is about 21 million
cases; deriving 10 million timelines would time the generator, not the assessment), with
the shapes of the demo city's: most cases closed, some late, reworked, extended, rated.
The expressions are the ones the platform runs (assess.engines), and the scores come from
the one scoring function (assess.domain). Each figure is printed on its own line.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from civicgrid.assess import engines, reports
from civicgrid.assess.domain import (
    FACT_FIELDS,
    STEPS,
    ObjectType,
    month_window,
    rank,
    score_object,
)
from civicgrid.assess.engines import FACT_SCHEMA, LIVE, DuckDBEngine, Engine, Scope
from civicgrid.assess.ports import find_font
from civicgrid.assess.services import Ranking, _parse_book, presets

TZ = "Asia/Shanghai"
NOW = datetime(2026, 1, 2, 4, tzinfo=UTC)
MONTH = "2025-12"
CHUNK = 1_000_000


def codes(prefix: str, count: int) -> pa.Array:
    return pa.array([f"{prefix}{n:05d}" for n in range(count)])


def generate(count: int, seed: int = 7) -> list[pa.Table]:
    """COUNT fact rows over the year before NOW, in tables of CHUNK rows."""
    rng = np.random.default_rng(seed)
    grids, units, workers, agents = 10_000, 400, 10_000, 300
    grid_codes = codes("G", grids)
    community = pc.utf8_slice_codeunits(grid_codes, 0, 4)  # 1,000 communities
    street = pc.utf8_slice_codeunits(grid_codes, 0, 3)  # 100 streets
    district = pc.utf8_slice_codeunits(grid_codes, 0, 2)  # 10 districts
    unit_codes, worker_codes, agent_codes = (
        codes("U", units),
        codes("W", workers),
        codes("A", agents),
    )
    channels = pa.array(["hotline", "resident_web", "grid_worker", "wechat_group", "open311"])
    categories = codes("C", 60)
    start = int((NOW - timedelta(days=365)).timestamp())
    end = int(NOW.timestamp())
    tables = []
    for first in range(0, count, CHUNK):
        n = min(CHUNK, count - first)
        grid = rng.integers(0, grids, n)
        reported = np.sort(rng.integers(start, end, n))
        state = rng.random(n)
        # Most cases close within days: the open ones are mostly the last month's.
        recent = reported > end - 30 * 86400
        is_open = np.where(recent, state >= 0.75, state >= 0.995) & (state < 0.96)
        closed = ~is_open & (state < 0.96)
        dispatched = rng.random(n) < 0.9
        late = (
            rng.random((len(STEPS), n))
            < np.array([0.03, 0.03, 0.04, 0.06, 0.10, 0.05, 0.02])[:, None]
        )
        hours = rng.gamma(2.0, np.array([0.4, 1.0, 1.0, 6, 20, 6, 6])[:, None], (len(STEPS), n))
        rated = closed & (rng.random(n) < 0.6)
        channel = rng.integers(0, len(channels), n)
        from_worker = channel == 2
        columns: dict[str, pa.Array] = {
            "snapshot": pa.array([LIVE] * n),
            "case_id": pa.array(np.arange(first + 1, first + n + 1)),
            "channel": pc.take(channels, pa.array(channel)),
            "category_code": pc.take(categories, pa.array(rng.integers(0, 60, n))),
            "group_code": pc.take(categories, pa.array(rng.integers(0, 10, n))),
            "grid_code": pc.take(grid_codes, pa.array(grid)),
            "community_code": pc.take(community, pa.array(grid)),
            "street_code": pc.take(street, pa.array(grid)),
            "district_code": pc.take(district, pa.array(grid)),
            "department_code": pc.if_else(
                pa.array(dispatched), pc.take(unit_codes, pa.array(rng.integers(0, units, n))), None
            ),
            "reporter_worker": pc.if_else(
                pa.array(from_worker), pc.take(worker_codes, pa.array(grid % workers)), None
            ),
            "acceptor": pc.take(agent_codes, pa.array(rng.integers(0, agents, n))),
            "dispatcher": pc.if_else(
                pa.array(dispatched),
                pc.take(agent_codes, pa.array(rng.integers(0, agents, n))),
                None,
            ),
            "verifier": pc.take(worker_codes, pa.array(grid % workers)),
            "status": pc.if_else(pa.array(closed), "closed", "in_progress"),
            "reported_ts": pa.array(reported),
            "closed_ts": pa.array(
                np.where(closed, reported + (hours.sum(axis=0) * 3600).astype(np.int64), 0),
                mask=~closed,
            ),
            "is_open": pa.array(is_open),
            "closed": pa.array(closed),
            "rejected": pa.array((state >= 0.96) & (state < 0.98)),
            "voided": pa.array((state >= 0.98) & (state < 0.985)),
            "merged": pa.array(state >= 0.985),
            "dispatched": pa.array(dispatched),
            "resolved_ever": pa.array(closed & dispatched),
            "on_spot": pa.array(from_worker & ~dispatched),
            "rated": pa.array(rated),
            "satisfaction": pa.array(np.where(rated, rng.integers(1, 6, n), 0), mask=~rated),
            "reply_quality": pa.array(rng.uniform(20, 95, n), mask=~closed),
            "returns": pa.array((rng.random(n) < 0.04).astype(np.int64)),
            "extension_requests": pa.array((rng.random(n) < 0.05).astype(np.int64)),
            "extensions": pa.array((rng.random(n) < 0.04).astype(np.int64)),
            "suspensions": pa.array((rng.random(n) < 0.01).astype(np.int64)),
            "reworks": pa.array((rng.random(n) < 0.03).astype(np.int64)),
            "reopens": pa.array((rng.random(n) < 0.01).astype(np.int64)),
            "escalations": pa.array((rng.random(n) < 0.02).astype(np.int64)),
            "overdue_ever": pa.array(late.any(axis=0)),
            "overdue_now": pa.array(is_open & late[4]),
            "unit_late": pa.array(late[3] | late[4]),
            "solved_level": pa.array(["street"] * n),
            "area_path": pc.binary_join_element_wise(
                "/C/", pc.take(grid_codes, pa.array(grid)), "/", ""
            ),
            "refreshed_seq": pa.array(np.ones(n, np.int64)),
        }
        for i, step in enumerate(STEPS):
            columns[f"{step}_done"] = pa.array(closed | (rng.random(n) < 0.5))
            columns[f"{step}_late"] = pa.array(late[i])
            columns[f"{step}_hours"] = pa.array(np.round(hours[i], 3))
        assert set(columns) == {*FACT_FIELDS, "snapshot", "refreshed_seq"}
        tables.append(
            pa.table({name: columns[name] for name in FACT_SCHEMA.names}).cast(FACT_SCHEMA)
        )
    return tables


def full_assessment(engine: Engine) -> dict[str, list]:
    """Every preset scheme of every object type, scored and ranked, and the step
    percentiles per object type: what a month's assessment computes."""
    book = _parse_book(0, presets())
    window = month_window(MONTH, NOW, TZ)
    scope = Scope(LIVE, window)
    schemes = list(book.schemes.values())
    jobs = [([book.indicators[i.indicator] for i in s.items], s.object_type) for s in schemes]
    ranked: dict[str, list] = {}
    for scheme, counts in zip(schemes, engines.counts_many(engine, jobs, scope), strict=True):
        ranked[scheme.code] = rank(
            [score_object(scheme, book.indicators, c, code) for code, c in counts.items()]
        )
    engines.percentiles(
        engine,
        [
            (ObjectType.UNIT, "department_code"),
            (ObjectType.STREET, "street_code"),
            (ObjectType.DISTRICT, "district_code"),
        ],
        scope,
    )
    return ranked


def timed(label: str, work: callable) -> object:  # type: ignore[valid-type]
    started = time.perf_counter()
    result = work()
    print(f"{label} in {time.perf_counter() - started:.2f} s", flush=True)
    return result


def duckdb_run(count: int, folder: Path) -> tuple[DuckDBEngine, dict[str, list], int]:
    duck = DuckDBEngine(folder / "facts.duckdb")
    started = time.perf_counter()
    if (folder / "facts.duckdb").exists():  # --keep: the rows of an earlier run
        (kept,) = duck.run_sql([f"SELECT count(*) AS n FROM {engines.TABLE}"])
        count = kept.column("n")[0].as_py()
        print(f"(reusing {count:,} fact rows in {folder})")
    else:
        for table in generate(count):
            duck.load(table)
        print(
            f"(generated and loaded {count:,} fact rows into DuckDB "
            f"in {time.perf_counter() - started:.1f} s)"
        )
    full_assessment(duck)  # the file's first read, as a server's first request would
    result = timed(
        f"DuckDB, {count:,} cases: full monthly assessment", lambda: full_assessment(duck)
    )
    return duck, result, count  # type: ignore[return-value]


def postgres_run(count: int, url: str) -> None:
    import psycopg
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from civicgrid.assess.repository import facts
    from civicgrid.core.db import metadata

    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = create_engine(target)
    metadata.create_all(engine, tables=[facts])
    engine.dispose()
    started = time.perf_counter()
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    names = ", ".join(FACT_SCHEMA.names)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        for table in generate(count):
            buffer = io.BytesIO()
            csv.write_csv(table, buffer)
            with cursor.copy(
                f"COPY assess_facts ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy:
                copy.write(buffer.getvalue())
        connection.commit()
        cursor.execute("ANALYZE assess_facts")
    print(f"(loaded {count:,} fact rows into PostgreSQL in {time.perf_counter() - started:.1f} s)")
    pg = engines.PostgresEngine(target.render_as_string(hide_password=False))
    timed(f"PostgreSQL, {count:,} cases: full monthly assessment", lambda: full_assessment(pg))


def spark_run(duck: DuckDBEngine, count: int, folder: Path) -> None:
    parquet = folder / "facts.parquet"
    with duck.connection() as connection:
        connection.execute(f"COPY {engines.TABLE} TO '{parquet}' (FORMAT parquet)")
    spark = engines.SparkEngine(parquet)
    timed("(Spark's JVM and session start-up)", spark.backend)
    timed(f"Spark, {count:,} cases: full monthly assessment", lambda: full_assessment(spark))


def pdf_run(ranked: dict[str, list]) -> None:
    if find_font() is None:
        print("30-page ranking PDF: skipped, no CJK font (install fonts-noto-cjk)")
        return
    book = _parse_book(0, presets())
    scheme = book.schemes["region_grid"]
    rows = ranked["region_grid"][:1_050]
    window = month_window(MONTH, NOW, TZ)
    ranking = Ranking(
        MONTH, window, scheme, book.indicators, 0, 1, "frozen", rows, {}, "duckdb", None
    )  # type: ignore[arg-type]
    header = reports.Header("C", "全市", MONTH, 0, 1, "frozen", NOW, TZ, "duckdb", "bench")
    content = timed(
        "30-page ranking PDF (1,050 grids)", lambda: reports.pdf(header, [ranking], "zh")
    )
    pages = content.count(b"/Type /Page\n") or content.count(b"/Type /Page")  # type: ignore[attr-defined]
    print(f"(the PDF has {pages} pages, {len(content):,} bytes)")  # type: ignore[arg-type]


def command_run(url: str, count: int) -> None:
    """The command centre's whole picture (tiles, lists, map points, warnings, hot issues,
    the month's KPIs) for the city and for one street, with COUNT cases in PostgreSQL
    (loaded as bench/queries.py loads them)."""
    import importlib.util
    import statistics

    from civicgrid.assess import services
    from civicgrid.bootstrap import build_platform
    from civicgrid.core.db import UnitOfWork
    from civicgrid.core.permissions import Actor, Role
    from civicgrid.core.settings import Settings
    from civicgrid.insight import views as insight_views

    spec = importlib.util.spec_from_file_location("queries", Path(__file__).with_name("queries.py"))
    assert spec is not None and spec.loader is not None
    queries = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(queries)
    started = time.perf_counter()
    queries.create_database(url)
    queries.load(url, count)
    print(f"(loaded {count:,} cases into PostgreSQL in {time.perf_counter() - started:.0f} s)")
    platform = build_platform(Settings(database_url=url, instance_dir=Path(tempfile.mkdtemp())))
    with UnitOfWork(platform.session_factory) as uow:
        street = uow.session.execute(
            queries.text("SELECT code, path FROM areas WHERE level = 'street' LIMIT 1")
        ).one()
    viewers = {
        "the city": Actor("leader", Role.LEADER),
        "a street": Actor("cadre", Role.CADRE, street.code, street.path),
    }
    for label, actor in viewers.items():
        # First drawn (hot issues grouped too), then again after a case event, as a push
        # redraws it (hot issues are regrouped once a minute, not on every event).
        for kind, runs, cold in (
            ("first picture", 3, True),
            ("picture after a case event", 10, False),
        ):
            times = []
            for _ in range(runs):
                services._summaries.clear()
                if cold:
                    services._hot.clear()
                    insight_views._boards.clear()
                with UnitOfWork(platform.session_factory) as uow:
                    begun = time.perf_counter()
                    services.command_summary(uow, actor, platform.assess)
                    times.append(time.perf_counter() - begun)
            times.sort()
            print(
                f"Command centre, {count:,} cases, {label}: {kind} in "
                f"{statistics.median(times) * 1000:.0f} ms (p50), "
                f"{times[-1] * 1000:.0f} ms (slowest of {runs})"
            )
    platform.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--postgres-cases", type=int, default=1_000_000)
    parser.add_argument(
        "--db", default="postgresql://postgres@127.0.0.1:5432/civicgrid_assess_bench"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--keep", help="a folder to keep the DuckDB file and Parquet in")
    parser.add_argument(
        "--command-db",
        help="also time the command centre with --postgres-cases cases in this PostgreSQL "
        "database (created anew)",
    )
    parser.add_argument("--only-command", action="store_true", help="only the command centre")
    args = parser.parse_args()
    if args.only_command:
        command_run(args.command_db, args.postgres_cases)
        return
    folder = Path(args.keep or tempfile.mkdtemp(prefix="civicgrid-assess-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    duck, ranked, count = duckdb_run(args.cases, folder)
    pdf_run(ranked)
    if not args.no_postgres:
        postgres_run(args.postgres_cases, args.db)
    if args.command_db:
        command_run(args.command_db, args.postgres_cases)
    if not args.no_spark:
        spark_run(duck, count, folder)


if __name__ == "__main__":
    main()
