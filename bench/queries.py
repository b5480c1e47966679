"""The dispatch queue and "overdue now" with a million cases in PostgreSQL.

    .venv/bin/python bench/queries.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_queries
    .venv/bin/python bench/queries.py --db … --cases 1000000 --keep   # reuse the loaded data

Creates the database, a demo city and N cases spread over a year (most closed, the open
ones in every state, about a tenth of them past their deadline), each with its reporter's
phone and an address, then times the queries the dispatch centre, a street, a unit's inbox
and the scheduler run, and the one search box (a case number, a caller's phone, words of
an address, in any state), through the same services the API calls. Prints p50/p99 in ms
for each. Target: under 50 ms p99.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from civicgrid.bootstrap import build_platform
from civicgrid.cases.domain import OPEN_STATUSES, STEP_OF_STATUS, Channel, Priority, Status
from civicgrid.cases.repository import (
    CaseFilter,
    CaseRepository,
    case_handlers,
    case_reporters,
    cases,
)
from civicgrid.cases.services import list_cases
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.settings import Settings

STATES = [
    (Status.CLOSED, 80),
    (Status.REPORTED, 2),
    (Status.ACCEPTED, 1),
    (Status.REGISTERED, 2),
    (Status.DISPATCHED, 4),
    (Status.IN_PROGRESS, 6),
    (Status.RESOLVED, 2),
    (Status.VERIFIED, 1),
    (Status.REJECTED, 1),
    (Status.MERGED, 1),
]
ROADS = ["长青路", "梧桐街", "锦江大道", "青龙巷", "春熙路", "玉林北路", "红星路", "东风大街"]


def phone_of(n: int) -> str:
    """The reporter's phone of case N: a thousand callers or so call more than once."""
    return f"139{(n * 7919) % 10_000_000 + n % 1000:08d}"[:11]


def address_of(n: int) -> str:
    return f"{ROADS[n % len(ROADS)]}{n % 300 + 1}号{n % 20 + 1}栋{n % 6 + 1}单元"


def create_database(url: str) -> None:
    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


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
        units = [code for (code,) in connection.execute(text("SELECT code FROM departments"))]
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    started = time.perf_counter()
    batch = 20_000
    next_id = 1
    for first in range(0, count, batch):
        rows, handlers, reporters = [], [], []
        for _ in range(min(batch, count - first)):
            grid_code, path = rng.choice(grids)
            status = rng.choices(states, weights)[0]
            created = now - timedelta(
                days=rng.uniform(0, 365) if status is Status.CLOSED else rng.uniform(0, 20)
            )
            step = STEP_OF_STATUS.get(status)
            deadline = warn = None
            if step is not None:
                # About one open case in ten is past its deadline.
                deadline = now + timedelta(hours=rng.uniform(-30, 270))
                warn = deadline - timedelta(hours=6)
            department = (
                rng.choice(units) if status not in (Status.REPORTED, Status.ACCEPTED) else None
            )
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
                    "address": address_of(next_id),
                    "grid_code": grid_code,
                    "area_path": path,
                    "handling_level": "street",
                    "handling_area_code": path.strip("/").split("/")[2],
                    "department_code": department,
                    "time_limits": {},
                    "created_at": created,
                    "updated_at": created,
                    "step_started_at": created,
                    "deadline_at": deadline,
                    "warn_at": warn,
                    "overdue": deadline is not None and deadline < now - timedelta(hours=1),
                    "rework_count": 0,
                    "escalation_count": 0,
                    "rating_comment": "",
                    "resolution": "",
                    "resolved_on_spot": False,
                }
            )
            reporters.append(
                {
                    "case_id": next_id,
                    "channel": Channel.HOTLINE,
                    "name": "",
                    "phone": phone_of(next_id),
                    "email": "",
                    "created_at": created,
                    "hidden": False,
                    "supporter": False,
                }
            )
            if department is not None:
                handlers.append(
                    {
                        "case_id": next_id,
                        "department_code": department,
                        "lead": True,
                        "assigned_at": created,
                        "note": "",
                    }
                )
            next_id += 1
        with platform.engine.begin() as connection:
            connection.execute(insert(cases), rows)
            connection.execute(insert(case_handlers), handlers)
            connection.execute(insert(case_reporters), reporters)
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
        connection.execute(text("ANALYZE"))
    platform.engine.dispose()


def timed(label: str, runs: int, work: Callable[[int], None]) -> None:
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        work(i)
        samples.append((time.perf_counter() - t0) * 1000)
    ms = np.array(samples)
    print(f"{label:<58} p50 {np.percentile(ms, 50):6.1f} ms   p99 {np.percentile(ms, 99):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the database is created)")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="reuse the data already loaded")
    args = parser.parse_args()

    if not args.keep:
        create_database(args.db)
        print(f"loading {args.cases:,} cases …")
        load(args.db, args.cases)
    platform = build_platform(Settings(database_url=args.db))
    ports = platform.cases
    with platform.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(cases)).scalar_one()
        open_count = connection.execute(
            select(func.count()).select_from(cases).where(cases.c.status.in_(list(OPEN_STATUSES)))
        ).scalar_one()
        districts = connection.execute(
            text("SELECT code, path FROM areas WHERE level = 'district'")
        ).all()
        streets = connection.execute(
            text("SELECT code, path FROM areas WHERE level = 'street'")
        ).all()
        units = [
            c
            for (c,) in connection.execute(
                text(
                    "SELECT DISTINCT department_code FROM cases"
                    " WHERE department_code IS NOT NULL LIMIT 200"
                )
            )
        ]
        groups = [
            c
            for (c,) in connection.execute(
                text("SELECT code FROM categories WHERE parent_code IS NULL")
            )
        ]
    print(f"{total:,} cases, {open_count:,} open")

    dispatcher = Actor("dispatcher", Role.DISPATCHER)
    rng = random.Random(2)
    statuses = sorted(OPEN_STATUSES)

    def queue(f: CaseFilter, actor: Actor) -> None:
        with UnitOfWork(platform.session_factory) as uow:
            page = list_cases(uow, actor, f, ports, page=1, page_size=50)
            assert page.total >= 0

    timed(
        "dispatch queue: city, open, by deadline, page 1 + total",
        args.runs,
        lambda i: queue(CaseFilter(statuses=statuses), dispatcher),
    )
    timed(
        "dispatch queue: + category group filter",
        args.runs,
        lambda i: queue(CaseFilter(statuses=statuses, category=rng.choice(groups)), dispatcher),
    )
    timed(
        "district centre: its district, open, page 1 + total",
        args.runs,
        lambda i: queue(
            CaseFilter(statuses=statuses),
            Actor("d", Role.DISPATCHER, area_path=rng.choice(districts)[1]),
        ),
    )
    timed(
        "street cadre: its street, open, page 1 + total",
        args.runs,
        lambda i: queue(
            CaseFilter(statuses=statuses), Actor("c", Role.CADRE, area_path=rng.choice(streets)[1])
        ),
    )
    timed(
        "unit inbox: one unit's open cases, page 1 + total",
        args.runs,
        lambda i: queue(
            CaseFilter(statuses=statuses),
            Actor("h", Role.HANDLER, department_code=rng.choice(units)),
        ),
    )
    timed(
        "overdue now: city, page 1 + total",
        args.runs,
        lambda i: queue(CaseFilter(overdue=True), dispatcher),
    )
    timed(
        "overdue now: a district, page 1 + total",
        args.runs,
        lambda i: queue(
            CaseFilter(overdue=True),
            Actor("d", Role.DISPATCHER, area_path=rng.choice(districts)[1]),
        ),
    )

    def scheduler_scan(_: int) -> None:
        # The scheduler's own question, on a clock that has already marked everything due.
        with UnitOfWork(platform.session_factory) as uow:
            CaseRepository(uow.session).overdue_unmarked(utcnow() - timedelta(hours=1), limit=500)

    timed("scheduler: overdue and not yet marked", args.runs, scheduler_scan)

    # The one search box (GET /api/v1/cases?q=), over every state, closed cases included.
    timed(
        "search: a case number, any state",
        args.runs,
        lambda i: queue(CaseFilter(q=str(rng.randint(1, total))), dispatcher),
    )
    timed(
        "search: a caller's phone, any state",
        args.runs,
        lambda i: queue(CaseFilter(q=phone_of(rng.randint(1, total))), dispatcher),
    )
    timed(
        "search: words of an address, any state",
        args.runs,
        lambda i: queue(CaseFilter(q=address_of(rng.randint(1, total))[:-4]), dispatcher),
    )
    timed(
        "search: a word, open cases of a district",
        args.runs,
        lambda i: queue(
            CaseFilter(statuses=statuses, q="路灯"),
            Actor("d", Role.DISPATCHER, area_path=rng.choice(districts)[1]),
        ),
    )
    platform.engine.dispose()


if __name__ == "__main__":
    main()
