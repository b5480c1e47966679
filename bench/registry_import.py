"""Importing a department's people file into the registry: a million rows into PostgreSQL.

    .venv/bin/python bench/registry_import.py \
        --db postgresql://postgres@127.0.0.1:5432/civicgrid_registry_bench --rows 1000000

Creates the database fresh, adds a synthetic city's areas and imports its standard
addresses (30 rooms per grid), then generates a people file as public security exports it
(names, checked identity numbers, sexes, birth dates, phones, addresses, registered and
floating people with dates, care tags) with 1% of the rows wrong (a mistyped check digit, an
impossible date, a bad phone, a person entered twice) and 20% of the addresses written in
the housing office's shorthand. Then imports it through the same service the
`civicgrid registry import` command uses, writes FILE.rejected.csv, imports it a second time
(nothing must change) and prints rows/s of each run and the process's peak memory.
Target: at least 20,000 rows/s for the first import.
"""

from __future__ import annotations

import argparse
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from civicgrid.areas.domain import Area, Level
from civicgrid.areas.services import add_areas
from civicgrid.bootstrap import build_platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.migrate import upgrade
from civicgrid.core.permissions import SYSTEM
from civicgrid.core.settings import Settings
from civicgrid.demo.domain import DemoCityBuilder, Shape
from civicgrid.demo.registry import (
    PEOPLE_HEADER,
    make_people,
    people_lines,
    spoil,
    standard_addresses,
    write_csv,
)
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.importing import default_mapping, open_table, write_rejected
from civicgrid.registry.services import import_records

SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def create_database(url: str) -> None:
    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


class Pauses:
    """Counts the times this process was stopped and continued (SIGSTOP, SIGCONT) during a
    run: on a shared machine a paused run's rows/s say nothing about the import."""

    def __init__(self) -> None:
        self.count = 0
        signal.signal(signal.SIGCONT, self._continued)

    def _continued(self, _signum: int, _frame: object) -> None:
        self.count += 1


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, rows: int, grids: list[tuple[str, float, float]]) -> None:
    """The people file: public security's columns, 1% of rows wrong, a fifth of the
    addresses in the housing office's shorthand."""
    rng = np.random.default_rng(1)
    addresses = standard_addresses(grids, per_grid=30)
    texts = [a.text if rng.random() > 0.2 else a.shorthand for a in addresses]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(PEOPLE_HEADER) + "\n")
        step = 50_000
        for first in range(0, rows, step):
            count = min(step, rows - first)
            people = make_people(count, texts, date.today(), seed=first + 17)
            spoil(people, 0.01, seed=first + 23)
            handle.write("\n".join(people_lines(people, slice(None))) + "\n")


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def city_grids() -> tuple[list[Area], list[tuple[str, float, float]]]:
    city = DemoCityBuilder(seed=3).synthetic(
        Shape(districts=2, streets_per_district=3, communities_per_street=3, grids_per_community=4)
    )
    grids = []
    for a in city.areas:
        if a.level is Level.GRID:
            point = a.geometry.representative_point()
            grids.append((a.code, point.x, point.y))
    return city.areas, grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="postgresql://postgres@127.0.0.1:5432/civicgrid_registry_bench"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="import DIR/people.csv as it is when a file of --rows rows is already there",
    )
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    areas, grids = city_grids()
    if args.generate:
        generate(args.generate, args.rows, grids)
        return
    if args.db.startswith("postgresql"):
        create_database(args.db)
    platform = build_platform(Settings(database_url=args.db, secret_key=SECRET))
    upgrade(platform.engine)
    with UnitOfWork(platform.session_factory) as uow:
        add_areas(uow, SYSTEM, areas)
        uow.commit()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="registry-bench-"))
    addresses = standard_addresses(grids, per_grid=30)
    address_file = write_csv(
        folder / "addresses.csv",
        ["标准地址", "网格编码", "纬度", "经度"],
        [(a.text, a.grid_code, f"{a.lat:.6f}", f"{a.lon:.6f}") for a in addresses],
    )
    with UnitOfWork(platform.session_factory) as uow:
        import_records(
            uow,
            SYSTEM,
            RecordKind.ADDRESS,
            open_table(address_file),
            default_mapping(RecordKind.ADDRESS),
            secret_key=SECRET,
            locator_cache=platform.locator_cache,
        )

    started = time.perf_counter()
    written = folder / "people.csv"
    if args.reuse and written.exists() and _lines(written) == args.rows + 1:
        print(f"reusing {written} ({written.stat().st_size / 1e6:.0f} MB)")
    else:
        # Generated in a process of its own, so the peak memory printed is the import's.
        subprocess.run(
            [sys.executable, __file__, "--generate", str(written), "--rows", str(args.rows)],
            check=True,
        )
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
            f"({written.stat().st_size / 1e6:.0f} MB) at {written}"
        )

    pauses = Pauses()
    for run in ("first", "again"):
        pauses.count = 0
        started = time.perf_counter()
        cpu = time.process_time()
        table = open_table(written)
        with UnitOfWork(platform.session_factory) as uow:
            report = import_records(
                uow,
                SYSTEM,
                RecordKind.PERSON,
                table,
                default_mapping(RecordKind.PERSON),
                secret_key=SECRET,
                chunk_size=args.chunk,
            )
        write_rejected(written, table.header, report.bad_rows)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        b = report.batch
        print(
            f"{run}: {b.total:,} rows in {seconds:.1f} s = {b.total / seconds:,.0f} rows/s; "
            f"{b.created:,} new, {b.updated:,} updated, {b.unchanged:,} unchanged, "
            f"{b.rejected:,} rejected, {b.review:,} for review; peak memory {peak_mb():.0f} MB; "
            f"{cpu:.1f} s of CPU in this process"
            + (f" (NOT VALID: paused {pauses.count} times)" if pauses.count else "")
        )
        sys.stdout.flush()
    platform.engine.dispose()


if __name__ == "__main__":
    main()
