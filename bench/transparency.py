"""The public transparency figures with a million cases in PostgreSQL.

    .venv/bin/python bench/transparency.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_transparency
    .venv/bin/python bench/transparency.py --db … --keep   # reuse the loaded data

Loads a demo city and N cases over a year the way bench/queries.py does (most closed, with
a closing time, a rating for seven in ten of them and an overdue mark on about one in six),
then times, without the one-minute cache, the summary of the whole city, of a district and
of a street for the default twelve months, and the CSV export of recent cases. Prints
p50/p99 in ms for each. Target: the city summary under 1 s p99, the rest under 200 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from civicgrid.bootstrap import build_platform
from civicgrid.cases.domain import CASE_KIND, STEP_OF_STATUS, Channel, Priority, Status, SystemEvent
from civicgrid.cases.repository import cases
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import ANONYMOUS
from civicgrid.core.settings import Settings
from civicgrid.core.workflow import events
from civicgrid.transparency import services
from civicgrid.transparency.schemas import cases_csv
from queries import STATES, create_database, timed  # bench/queries.py, beside this file

SCORES = ([5, 4, 3, 2, 1], [55, 25, 10, 6, 4])


def load(url: str, count: int) -> None:
    env = {**os.environ, "CIVICGRID_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "civicgrid", "demo", "--cases", "0"],
        env=env,
        check=True,
        capture_output=True,
    )
    platform = build_platform(Settings(database_url=url))
    rng = random.Random(1)
    now = utcnow()
    with platform.engine.begin() as connection:
        grids = connection.execute(text("SELECT code, path FROM areas WHERE level = 'grid'")).all()
        leaves = [
            code
            for (code,) in connection.execute(
                text("SELECT code FROM categories WHERE parent_code IS NOT NULL")
            )
        ]
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    started = time.perf_counter()
    batch = 20_000
    next_id = 1
    for first in range(0, count, batch):
        rows, marks = [], []
        for _ in range(min(batch, count - first)):
            grid_code, path = rng.choice(grids)
            status = rng.choices(states, weights)[0]
            created = now - timedelta(
                days=rng.uniform(0, 365) if status is Status.CLOSED else rng.uniform(0, 20)
            )
            closed = None
            if status is Status.CLOSED:
                closed = min(now, created + timedelta(hours=rng.lognormvariate(3.5, 1.0)))
            step = STEP_OF_STATUS.get(status)
            deadline = now + timedelta(hours=rng.uniform(-30, 270)) if step else None
            rows.append(
                {
                    "id": next_id,
                    "version": 1,
                    "title": "路灯不亮",
                    "description": "楼下路灯不亮已经一周，晚上出行不安全",
                    "channel": Channel.HOTLINE,
                    "category_code": rng.choice(leaves),
                    "status": status,
                    "priority": Priority.NORMAL,
                    "lat": 30.6 + rng.random() / 5,
                    "lon": 104.0 + rng.random() / 5,
                    "address": "",
                    "grid_code": grid_code,
                    "area_path": path,
                    "handling_level": "street",
                    "handling_area_code": path.strip("/").split("/")[2],
                    "time_limits": {},
                    "created_at": created,
                    "updated_at": closed or created,
                    "step_started_at": created,
                    "deadline_at": deadline,
                    "warn_at": deadline - timedelta(hours=6) if deadline else None,
                    "overdue": deadline is not None and deadline < now,
                    "rework_count": 0,
                    "escalation_count": 0,
                    "closed_at": closed,
                    "satisfaction": (
                        rng.choices(*SCORES)[0] if closed and rng.random() < 0.7 else None
                    ),
                    "rating_comment": "",
                    "resolution": "",
                    "resolved_on_spot": False,
                }
            )
            if rng.random() < 1 / 6:
                marks.append(
                    {
                        "kind": CASE_KIND,
                        "record_id": next_id,
                        "action": SystemEvent.OVERDUE.value,
                        "actor_name": "system",
                        "actor_role": "",
                        "from_state": Status.IN_PROGRESS,
                        "to_state": Status.IN_PROGRESS,
                        "at": created + timedelta(hours=30),
                        "note": "",
                        "data": {},
                        "attachments": [],
                    }
                )
            next_id += 1
        with platform.engine.begin() as connection:
            connection.execute(insert(cases), rows)
            connection.execute(insert(events), marks)
        done = first + len(rows)
        print(
            f"\r  loaded {done:,} cases ({done / (time.perf_counter() - started):,.0f} rows/s)",
            end="",
        )
    print()
    with platform.engine.begin() as connection:
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"
            )
        )
    # Index-only scans need the visibility map, which autovacuum would write a little later.
    with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    platform.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the database is created)")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="reuse the data already loaded")
    args = parser.parse_args()

    if not args.keep:
        create_database(args.db)
        print(f"loading {args.cases:,} cases …")
        load(args.db, args.cases)
    platform = build_platform(Settings(database_url=args.db))
    with platform.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(cases)).scalar_one()
        districts = [
            c for (c,) in connection.execute(text("SELECT code FROM areas WHERE level='district'"))
        ]
        streets = [
            c for (c,) in connection.execute(text("SELECT code FROM areas WHERE level='street'"))
        ]
    print(f"{total:,} cases")
    rng = random.Random(2)
    ports = platform.transparency

    def summary(area: str | None) -> None:
        ports.cache.clear()  # every run asks the database
        with UnitOfWork(platform.session_factory) as uow:
            found = services.summary(uow, ANONYMOUS, services.Filters(area=area), ports)
            assert found.reported > 0

    timed("summary: whole city, last 12 months (uncached)", args.runs, lambda i: summary(None))
    timed(
        "summary: a district, last 12 months (uncached)",
        args.runs,
        lambda i: summary(rng.choice(districts)),
    )
    timed(
        "summary: a street, last 12 months (uncached)",
        args.runs,
        lambda i: summary(rng.choice(streets)),
    )

    def export(_: int) -> None:
        ports.cache.clear()
        with UnitOfWork(platform.session_factory) as uow:
            listing = services.recent_cases(uow, ANONYMOUS, services.Filters(), ports)
            assert cases_csv(listing)

    timed("recent cases as CSV: whole city, 500 newest (uncached)", args.runs, export)

    def cached(_: int) -> None:
        with UnitOfWork(platform.session_factory) as uow:
            services.summary(uow, ANONYMOUS, services.Filters(), ports)

    timed("summary: whole city, from the one-minute cache", args.runs * 10, cached)
    platform.engine.dispose()


if __name__ == "__main__":
    main()
