"""The data-sharing exchange under load: masked reads of 100 rows by many clients at once,
and bulk masked exports, through the HTTP API with a unit's API key, each read appended to
the audit log as it is served.

    .venv/bin/python bench/exchange.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_exchange_bench
    .venv/bin/python bench/exchange.py --people 100000 --clients 16 --seconds 20 --db …
    .venv/bin/python bench/exchange.py --reuse --rate 100 --db …   # the same city, 100 reads/s

Sets up a demo city with PEOPLE people in its registry (PostgreSQL: the database is
created anew), whose units share it as the demo plays it: civil affairs (民政局) holds a
grant of the people dataset narrowed by public security — names as 张*伟, phones' last
four, birth dates as age bands, addresses as communities, the kind of residence in full.
Then `civicgrid serve` runs in its own process(es), with its scheduled jobs as a city's
server runs them (the audit sequencer placing each read's entry in the tree and signing a
checkpoint every 5 s among them), and:

- read: CLIENTS keep-alive connections each ask GET …/rows?limit=100&after=<a random row>
  as soon as the last answer came (or, with --rate R, the clients together R times a
  second on a fixed schedule, latency counted from when each read was due), for SECONDS;
  every answer is masked on the server and its read appended to the audit log with the
  records it held;
- export: one client downloads the whole grant as CSV, Parquet and xlsx.

Each figure is printed on its own line: `read: … ms p95`, `export: … rows/s` (CSV; then
Parquet and xlsx). Goals: p95 under 50 ms with 16 clients on PostgreSQL; at least 20,000
exported rows/s.

With --audit-db URL (a PostgreSQL database it may create afresh) it then runs the audit
log's own benchmark, bench/audit.py, and passes its lines on: `append: … entries/s`,
`checkpoint: … ms`, `verify: … s for … entries`, `proof: … ms`, so the exchange's five
figures come from one command (the log's take 4 to 15 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The intake benchmark's way to make a fresh database, run a command and find a free port
# (this folder is on the path when a benchmark runs as a script).
from intake import CIVICGRID, free_port, prepare_database, run, wait_for


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process PID and its children (Linux /proc):
    what the server spends, whatever else the machine is doing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def machine_ticks() -> list[int]:
    """The machine's CPU time by kind since boot (Linux /proc/stat: user, nice, system,
    idle, iowait, irq, softirq, steal)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def stolen_share(before: list[int], after: list[int]) -> float:
    """The share of the machine's CPU time its host gave to others meanwhile (steal): on a
    shared virtual machine, what makes one run slower than the next."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
) -> tuple[int, bytes]:
    writer.write(head)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


@dataclass
class Reads:
    latencies: list[float] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0  # the clients' own (this process), on the same cores
    stolen: float = 0.0


async def reader_client(
    port: int,
    key: str,
    dataset: int,
    ids: list[int],
    timing: Timing,
    seed: int,
    reads: Reads,
) -> None:
    """One keep-alive connection reading pages until the time is up. Without a rate it asks
    again as soon as answered; with one, its reads are due at fixed times (every
    `timing.interval` seconds from `timing.offset`) and each read's latency counts from when
    it was due, so a slow answer also delays the reads queued behind it (no coordinated
    omission)."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        due = timing.start + timing.offset
        while True:
            if timing.interval:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                began = due
                due += timing.interval
            else:
                began = time.perf_counter()
            if began >= timing.stop_at:
                break
            after = rng.choice(ids)
            head = (
                f"GET /api/v1/exchange/datasets/{dataset}/rows?limit=100&after={after} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n\r\n"
            ).encode()
            status, body = await request(reader, writer, head)
            if began >= timing.measure_from:
                if status == 200:
                    reads.latencies.append(time.perf_counter() - began)
                    reads.rows += body.count(b'"name"')
                else:
                    reads.errors.append(f"{status} {body[:200]!r}")
    finally:
        writer.close()


@dataclass
class Timing:
    start: float
    measure_from: float
    stop_at: float
    interval: float = 0.0  # seconds between one client's reads; 0: as soon as answered
    offset: float = 0.0


async def read_load(
    port: int,
    key: str,
    dataset: int,
    ids: list[int],
    args: argparse.Namespace,
    server_pid: int,
) -> Reads:
    reads = Reads()
    start = time.perf_counter()
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds
    interval = args.clients / args.rate if args.rate else 0.0

    async def measure_cpu() -> None:
        await asyncio.sleep(max(measure_from - time.perf_counter(), 0))
        before, ticks = cpu_seconds(server_pid), machine_ticks()
        own = time.process_time()
        await asyncio.sleep(max(stop_at - time.perf_counter(), 0))
        reads.server_cpu = cpu_seconds(server_pid) - before
        reads.client_cpu = time.process_time() - own
        reads.stolen = stolen_share(ticks, machine_ticks())

    await asyncio.gather(
        measure_cpu(),
        *(
            reader_client(
                port,
                key,
                dataset,
                ids,
                Timing(start, measure_from, stop_at, interval, interval * i / args.clients),
                i,
                reads,
            )
            for i in range(args.clients)
        ),
    )
    return reads


def export(port: int, key: str, dataset: int, fmt: str) -> tuple[int, float, int]:
    """(rows, seconds, bytes) of one whole export."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "GET",
        f"/api/v1/exchange/datasets/{dataset}/export?format={fmt}",
        headers={"X-API-Key": key},
    )
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"export {fmt}: {response.status} {response.read()[:300]!r}")
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if fmt == "csv":
        rows = body.count(b"\n") - 1
    elif fmt == "parquet":
        import io

        import pyarrow.parquet as pq

        rows = pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    else:
        import io

        from openpyxl import load_workbook

        rows = load_workbook(io.BytesIO(body), read_only=True).worksheets[0].max_row - 1
    return rows, elapsed, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--people", type=int, default=20000, help="people in the registry")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--reuse", action="store_true", help="keep the database as it is")
    parser.add_argument(
        "--rate",
        type=float,
        help="the clients together offer this many reads/s (latency counted from when each "
        "was due); default: each reads again as soon as it is answered (the most it takes)",
    )
    parser.add_argument(
        "--audit-db",
        help="also run bench/audit.py on this PostgreSQL URL (append, checkpoint, verify, "
        "proof), after the exchange's figures",
    )
    args = parser.parse_args()

    url = args.db if args.reuse and args.db else prepare_database(args.db)
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": url,
        "CIVICGRID_ENVIRONMENT": "test",
    }
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    if not args.reuse:
        started = time.perf_counter()
        run("demo", "--reset", "--cases", "0", "--registry-people", str(args.people), env=env)
        print(f"demo city with {args.people:,} people: {time.perf_counter() - started:.0f} s")
    key = run("apikey", "add", f"bench-{time.time_ns()}", "--department", "990100-MZJ", env=env)
    key = key.split()[-1]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        dataset = connection.execute(
            text("SELECT id FROM exchange_datasets WHERE code = 'people'")
        ).scalar_one()
        ids = [int(i) for (i,) in connection.execute(text("SELECT id FROM registry_people"))]
        before = connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
    # A page starts after a random row, far enough from the end to hold 100.
    ids = sorted(ids)[: max(len(ids) - 100, 1)]

    port = free_port()
    server = subprocess.Popen(
        [
            *CIVICGRID,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port, args.workers)
        reads = asyncio.run(read_load(port, key, dataset, ids, args, server.pid))
        exports = {fmt: export(port, key, dataset, fmt) for fmt in ("csv", "parquet", "xlsx")}
    finally:
        server.terminate()
        server.wait(timeout=30)
    with engine.connect() as connection:
        logged = connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
    engine.dispose()

    ms = np.array(reads.latencies) * 1000 if reads.latencies else np.array([float("nan")])
    done = len(reads.latencies)
    offered = f"{args.rate:,.0f} reads/s offered" if args.rate else "as fast as answered"
    print(
        f"reads ({offered}): {done:,} of 100 masked rows in {args.seconds:.0f} s by "
        f"{args.clients} clients "
        f"({done / args.seconds:,.0f}/s, {args.workers} server processes); p50 "
        f"{np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
        f"{len(reads.errors)} errors; server CPU per read "
        f"{reads.server_cpu / max(done, 1) * 1000:.1f} ms, clients' CPU per read "
        f"{reads.client_cpu / max(done, 1) * 1000:.2f} ms; audit log entries added: "
        f"{logged - before:,}; load average {os.getloadavg()[0]:.1f}; CPU taken by the "
        f"host meanwhile {reads.stolen:.0%}"
    )
    print(f"read: {np.percentile(ms, 95):.1f} ms p95")
    for name, (rows, seconds, size) in exports.items():
        label = "export" if name == "csv" else f"export {name}"
        detail = f"{rows:,} rows, {size / 1e6:.1f} MB, {seconds:.2f} s"
        print(f"{label}: {rows / seconds:,.0f} rows/s ({detail})")
    for error in reads.errors[:5]:
        print("  error:", error)
    if args.audit_db:  # after the reads, so neither load slows the other
        script = Path(__file__).resolve().with_name("audit.py")
        subprocess.run([sys.executable, str(script), "--db", args.audit_db], check=True)


if __name__ == "__main__":
    main()
