"""The verifiable audit log on PostgreSQL: appends per second, a checkpoint, `audit verify` of
a million entries and an inclusion proof at ten million.

    .venv/bin/python bench/audit.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_audit
    .venv/bin/python bench/audit.py --db … --writers 4 --threads 4 --seconds 20 --entries 10000000

Prints each figure on its own line:

    append: N entries/s     (writers × threads appending, each entry its own transaction,
                             the sequencer placing and signing every second meanwhile; and
                             the CPU an entry cost in the clients and in PostgreSQL, with
                             the rate 2 cores given to nothing else would sustain)
    checkpoint: N ms        (placing 1,000 new entries in the tree and signing)
    verify: N s for 1,000,000 entries   (and the CPU seconds it took, Python and PostgreSQL)
    proof: N ms             (an inclusion proof at 10,000,000 entries, p50; p99 beside it)

The million and the ten million entries are written with COPY (their leaves and tiles
computed here exactly as the sequencer computes them: two processes, about a minute a
million on 2 cores), not through the append API, whose speed is the first figure. The
server's CPU is read from /proc, so PostgreSQL must run on this machine. Targets: append
≥ 2,000/s on 2 cores, proof < 5 ms, verify < 10 s. The database is created afresh
(dropped first).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import multiprocessing.synchronize
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from civicgrid.audit import services
from civicgrid.audit.merkle import Tiles, extend, right_edge, tiles_for
from civicgrid.audit.notes import Checkpoint, sign_checkpoint
from civicgrid.audit.repository import AuditRepository, TreeState
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.ledger import Action, Entry, Ledger, leaf_bytes, leaf_hash
from civicgrid.core.migrate import upgrade
from civicgrid.core.permissions import ANONYMOUS, SYSTEM, Actor, Role
from civicgrid.core.settings import Settings
from queries import create_database  # bench/queries.py, beside this file

READER = Actor("gw.990101001", Role.GRID_WORKER, department_code="990101-WGZX")
FIELDS = ("name", "id_masked", "phone")
AUDIT_TABLES = (
    "audit_cosignatures, audit_checkpoints, audit_tiles, audit_tree, audit_leaves, audit_pending, "
    "audit_entries"
)


# The log's signing key (and the secret) of the benchmark, not of the working copy.
INSTANCE = Path(tempfile.gettempdir()) / "civicgrid-bench-audit"


def platform_for(url: str) -> Platform:
    settings = Settings(
        database_url=url,
        suggestion_model_path="",
        audit_checkpoint_seconds=0,
        instance_dir=INSTANCE,
    )
    return build_platform(settings)


# ------------------------------------------------------------------ appends


def writer(
    url: str,
    threads: int,
    seconds: float,
    counts: multiprocessing.Queue,  # type: ignore[type-arg]
    measured: multiprocessing.synchronize.Event,
) -> None:
    """One process: THREADS threads appending one entry per transaction for SECONDS; then
    its count and CPU seconds, its connections kept open until the database's processes
    serving them are measured."""
    platform = platform_for(url)
    done = [0] * threads
    cpu = time.process_time()
    stop = time.monotonic() + seconds

    def run(n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < stop:
            with UnitOfWork(platform.session_factory) as uow:
                person = rng.randrange(1, 1_000_000)
                Ledger(uow.session).append(
                    Entry.by(
                        READER,
                        Action.PERSONAL_READ,
                        record_kind="person",
                        record_ids=[person],
                        fields=FIELDS,
                    )
                )
                uow.commit()
            done[n] += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    counts.put((sum(done), time.process_time() - cpu))
    measured.wait(120)
    platform.engine.dispose()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process PID has used (Linux /proc; 0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(platform: Platform) -> dict[int, float]:
    """CPU seconds of each database process serving this database (the server runs here)."""
    with platform.engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return {int(pid): process_cpu(int(pid)) for pid in pids}


def bench_append(url: str, writers: int, threads: int, seconds: float) -> None:
    platform = platform_for(url)
    context = multiprocessing.get_context("spawn")
    counts = context.Queue()
    measured = context.Event()
    processes = [
        context.Process(target=writer, args=(url, threads, seconds, counts, measured))
        for _ in range(writers)
    ]
    server_before = server_cpu(platform)
    own_before = time.process_time()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for p in processes:
        p.start()
    # The sequencer runs as the job does, every second, while the writers append.
    signed = 0
    results: list[tuple[int, float]] = []
    while len(results) < writers:
        time.sleep(1.0)
        with UnitOfWork(platform.session_factory) as uow:
            if services.checkpoint_now(uow, SYSTEM, platform.audit).checkpoint:
                signed += 1
        while not counts.empty():
            results.append(counts.get())
    elapsed = time.perf_counter() - started
    with UnitOfWork(platform.session_factory) as uow:
        services.checkpoint_now(uow, SYSTEM, platform.audit)
        placed = uow.session.execute(text("SELECT count(*) FROM audit_leaves")).scalar()
    server_after = server_cpu(platform)
    measured.set()
    for p in processes:
        p.join()
    total = sum(n for n, _ in results)
    assert placed == total, (placed, total)
    client = sum(c for _, c in results) + time.process_time() - own_before
    server = sum(c - server_before.get(pid, 0.0) for pid, c in server_after.items())
    per_entry = (client + server) / total
    load = max(load_before, os.getloadavg()[0])
    # Processes take a moment to start: the rate is over the writers' own SECONDS.
    rate = total / seconds
    print(
        f"append: {rate:,.0f} entries/s ({writers} processes × {threads} threads, "
        f"{total:,} entries in {elapsed:.1f} s, each its own transaction, {signed} "
        f"checkpoints signed meanwhile; CPU per entry {client / total * 1e6:,.0f} µs in "
        f"the clients and sequencer + {server / total * 1e6:,.0f} µs in PostgreSQL, so "
        f"{2 / per_entry:,.0f} entries/s on 2 cores given to it alone; load average "
        f"{load:.1f} on {os.cpu_count()} cores)"
    )
    platform.engine.dispose()


def bench_checkpoint(url: str) -> None:
    platform = platform_for(url)
    with UnitOfWork(platform.session_factory) as uow:
        entries = [
            Entry.by(READER, Action.PERSONAL_READ, record_kind="person", record_ids=[n])
            for n in range(1000)
        ]
        Ledger(uow.session).append_all(entries)
        uow.commit()
    with UnitOfWork(platform.session_factory) as uow:
        t0 = time.perf_counter()
        done = services.checkpoint_now(uow, SYSTEM, platform.audit)
        ms = (time.perf_counter() - t0) * 1000
    assert done.checkpoint is not None
    print(f"checkpoint: {ms:.1f} ms (1,000 new entries placed and signed, tree of {done.new:,})")
    platform.engine.dispose()


# ------------------------------------------------------------------ bulk entries (COPY)

START = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(first: int, count: int) -> tuple[bytes, bytes, list[bytes]]:
    """COPY text for entries FIRST … FIRST+COUNT-1 and for their places (entry n + 1 at
    place n), and their leaf hashes, as the ledger computes them."""
    out = io.StringIO()
    places = io.StringIO()
    hashes = []
    for n in range(first, first + count):
        at = START + timedelta(microseconds=n * 1000)
        person = n % 999_983 + 1
        leaf = leaf_bytes(
            at,
            "personal_read",
            READER.name,
            "grid_worker",
            READER.department_code,
            None,
            "person",
            (person,),
            1,
            FIELDS,
            None,
            None,
            None,
        )
        digest = leaf_hash(leaf)
        hashes.append(digest)
        places.write(f"{n}\t{n + 1}\n")
        out.write(
            f"{n + 1}\t{at.isoformat()}\tpersonal_read\t{READER.name}\tgrid_worker\t"
            f"{READER.department_code}\t\\N\tperson\t{person}\t1\t{','.join(FIELDS)}\t\\N\t\\N\t"
            f"\\N\t\\N\t\\\\x{digest.hex()}\n"
        )
    return out.getvalue().encode(), places.getvalue().encode(), hashes


def _chunk(args: tuple[int, int]) -> tuple[bytes, bytes, bytes]:
    data, places, hashes = _rows(*args)
    return data, places, b"".join(hashes)


COLUMNS = (
    "id, at, action, actor, role, unit, dataset, record_kind, record_ids, "
    "row_count, fields, grant_id, reason, commitment, salt, leaf_hash"
)
SECONDARY = {
    "ix_audit_entries_at": "CREATE INDEX ix_audit_entries_at ON audit_entries (at)",
    "ix_audit_entries_unit": "CREATE INDEX ix_audit_entries_unit ON audit_entries (unit)",
    "ix_audit_entries_dataset": "CREATE INDEX ix_audit_entries_dataset ON audit_entries (dataset)",
    "ix_audit_entries_leaf_hash": (
        "CREATE INDEX ix_audit_entries_leaf_hash ON audit_entries (leaf_hash)"
    ),
    "ix_audit_entries_record_kind": (
        "CREATE INDEX ix_audit_entries_record_kind ON audit_entries (record_kind, at)"
    ),
    "ix_audit_entries_record_blocks": (
        "CREATE INDEX ix_audit_entries_record_blocks ON audit_entries"
        " USING gin (audit_record_blocks(record_ids)) WITH (fastupdate = off)"
    ),
}


def load(platform: Platform, first: int, count: int) -> float:
    """Entries FIRST … FIRST+COUNT-1, placed, their tiles and a signed checkpoint; seconds."""
    t0 = time.perf_counter()
    engine = platform.engine
    step = 200_000
    chunks = [(n, min(step, first + count - n)) for n in range(first, first + count, step)]
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for name in SECONDARY:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        raw.commit()
        repo_session = platform.session_factory()
        repo = AuditRepository(repo_session)
        size = repo.state().size
        partial = repo.tiles(right_edge(size))
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for data, places, joined in pool.imap(_chunk, chunks):
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY audit_entries ({COLUMNS}) FROM STDIN") as copy,
                ):
                    copy.write(data)
                with (
                    raw.cursor() as cursor,
                    cursor.copy("COPY audit_leaves (leaf_index, entry_id) FROM STDIN") as copy,
                ):
                    copy.write(places)
                hashes = [joined[i : i + 32] for i in range(0, len(joined), 32)]
                changed = extend(size, hashes, partial)
                repo.put_tiles(changed)
                size += len(hashes)
                partial = {k: changed.get(k) or partial.get(k) or b"" for k in right_edge(size)}
        raw.commit()
        with raw.cursor() as cursor:
            for statement in SECONDARY.values():
                cursor.execute(statement)
            cursor.execute(
                "SELECT setval('audit_entries_id_seq', (SELECT max(id) FROM audit_entries))"
            )
            cursor.execute("ANALYZE audit_entries")
            cursor.execute("ANALYZE audit_leaves")
            cursor.execute("ANALYZE audit_tiles")
        raw.commit()
        tiles = Tiles(repo.tiles(tiles_for([(0, size)])))
        root = tiles.root(size)
        repo.set_state(TreeState(size, root), utcnow())
        note = sign_checkpoint(
            Checkpoint(platform.audit.origin, size, root), platform.audit.signer()
        )
        repo.add_checkpoint(size, root, note.render(), utcnow())
        repo_session.commit()
        repo_session.close()
    return time.perf_counter() - t0


def bench_verify(platform: Platform, count: int) -> None:
    server_before = server_cpu(platform)
    own_before = time.process_time()
    load = os.getloadavg()[0]
    with UnitOfWork(platform.session_factory) as uow:
        report = services.verify_log(uow, SYSTEM, platform.audit)
    own = time.process_time() - own_before
    server = sum(c - server_before.get(pid, 0.0) for pid, c in server_cpu(platform).items())
    assert report.ok, report.problems[:3]
    assert report.entries == count, report.entries
    print(
        f"verify: {report.seconds:.2f} s for {report.entries:,} entries (CPU {own:.1f} s in "
        f"Python + {server:.1f} s in PostgreSQL; load average "
        f"{max(load, os.getloadavg()[0]):.1f} on {os.cpu_count()} cores)"
    )


def bench_proof(platform: Platform, size: int, runs: int = 300) -> None:
    rng = random.Random(3)
    samples = []
    by_hash = []
    with UnitOfWork(platform.session_factory) as uow:
        for _ in range(20):  # warm the connection and the planner
            services.inclusion_proof(uow, ANONYMOUS, index=rng.randrange(size), size=size)
        for _ in range(runs):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            proof = services.inclusion_proof(uow, ANONYMOUS, index=index, size=size)
            samples.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            services.inclusion_proof(uow, ANONYMOUS, leaf_hash=proof.leaf_hash, size=size)
            by_hash.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        services.consistency_proof(uow, ANONYMOUS, size // 3, size)
        consistency = (time.perf_counter() - t0) * 1000

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    print(
        f"proof: {p(samples, 50):.2f} ms (p99 {p(samples, 99):.2f} ms; by leaf hash "
        f"p50 {p(by_hash, 50):.2f} ms, p99 {p(by_hash, 99):.2f} ms; a consistency proof "
        f"{consistency:.2f} ms) at {size:,} entries; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the database is created)")
    parser.add_argument("--writers", type=int, default=2, help="appending processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per process")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long they append")
    parser.add_argument("--verify", type=int, default=1_000_000, help="entries to verify")
    parser.add_argument("--entries", type=int, default=10_000_000, help="entries for the proof")
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        sys.exit("a PostgreSQL URL, please: the figures are PostgreSQL's")
    create_database(args.db)
    platform = platform_for(args.db)
    upgrade(platform.engine)
    bench_append(args.db, args.writers, args.threads, args.seconds)
    bench_checkpoint(args.db)
    with platform.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {AUDIT_TABLES} RESTART IDENTITY"))
    seconds = load(platform, 0, args.verify)
    print(f"(loaded {args.verify:,} entries with COPY in {seconds:.1f} s)", file=sys.stderr)
    bench_verify(platform, args.verify)
    seconds = load(platform, args.verify, args.entries - args.verify)
    print(f"(loaded {args.entries:,} entries in all, {seconds:.1f} s more)", file=sys.stderr)
    with UnitOfWork(platform.session_factory) as uow:
        size = uow.session.execute(select(func.count()).select_from(text("audit_entries"))).scalar()
    assert size == args.entries
    bench_proof(platform, args.entries)
    platform.engine.dispose()


if __name__ == "__main__":
    main()
