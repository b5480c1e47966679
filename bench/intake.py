"""Sustained case intake through the HTTP API: many clients posting reports at once.

    .venv/bin/python bench/intake.py                       # SQLite, a fresh database
    .venv/bin/python bench/intake.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_bench
    .venv/bin/python bench/intake.py --clients 32 --seconds 30 --workers 2 --rate 500 --db …

Sets up a demo city in the database (PostgreSQL: the database is created and emptied),
starts `civicgrid serve` in its own process(es), and drives POST /api/v1/cases from
CLIENTS concurrent keep-alive connections with a department API key (a 12345 hotline
system). Prints cases/s, p50/p99 latency, the server's CPU time per case and errors.
Targets: 500 cases/s on PostgreSQL, 300/s on SQLite, p99 under 100 ms.

Two ways to load the server: by default every client sends its next report as soon as the
last is answered, which finds the most the server takes (and, with 32 clients waiting on
each other, latency is just 32 / throughput); with --rate the clients together offer that
many reports per second, on a fixed schedule, which shows the latency a city sees at that
load (`--rate 300` on SQLite, `--rate 500 --db postgresql://…` on PostgreSQL).

The load generator is a small asyncio HTTP/1.1 client, so that it leaves the CPU to the
server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CIVICGRID = [sys.executable, "-m", "civicgrid"]
DESCRIPTIONS = [
    "小区门口垃圾桶满溢，好几天没人清理了",
    "楼下路灯不亮已经一周，晚上出行不安全",
    "人行道上有人占道摆摊，行人只能走机动车道",
    "夜间施工噪音太大，影响休息",
    "井盖松动，车辆经过声音很大，存在安全隐患",
    "物业不作为，电梯经常停运",
]


def prepare_database(url: str | None) -> str:
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="civicgrid-bench-"))
        return f"sqlite:///{folder / 'bench.db'}"
    if url.startswith("postgresql"):
        target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
        admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = target.database
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return url


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([*CIVICGRID, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"civicgrid {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, workers: int, seconds: float = 90) -> None:
    """Until every server process answers: `civicgrid serve` hands each new connection to
    the process with the fewest open (see civicgrid.serving), so WORKERS connections held
    open at once reach one process each, and each answers /health once it is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connections = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=seconds) for _ in range(workers)
        ]
        try:
            for connection in connections:
                connection.connect()
            for connection in connections:
                connection.request("GET", "/health")
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise OSError(f"/health answered {answer.status}")
            return
        except OSError:
            time.sleep(0.2)
        finally:
            for connection in connections:
                connection.close()
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process PID and its children, from /proc:
    what each case costs the server, whatever else the machine is doing."""
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


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def post(path: str, port: int, key: str, payload: dict[str, object]) -> tuple[bytes, bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


@dataclass
class Load:
    port: int
    key: str
    points: list[tuple[float, float]]
    categories: list[str]
    clients: int
    seconds: float
    warmup: float
    rate: float | None  # cases/s offered by all clients together; None: as fast as answered


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0


async def client(load: Load, seed: int, start: float, outcome: Outcome) -> None:
    """One keep-alive connection posting reports. With a rate, report k is due at a fixed
    time and its latency counts from then, so a slow answer also delays (and is charged
    to) the reports queued behind it, as it would be for real callers."""
    rng = random.Random(seed)
    interval = load.clients / load.rate if load.rate else 0.0
    due = start + rng.uniform(0, interval)
    measure_from = start + load.warmup
    stop_at = measure_from + load.seconds
    reader, writer = await asyncio.open_connection("127.0.0.1", load.port)
    try:
        while time.perf_counter() < stop_at:
            lon, lat = rng.choice(load.points)
            payload = {
                "description": rng.choice(DESCRIPTIONS),
                "category": rng.choice(load.categories),
                "lat": lat,
                "lon": lon,
                "channel": "hotline",
                "reporter": {"phone": f"138{rng.randint(0, 99_999_999):08d}"},
            }
            head, body = post("/api/v1/cases", load.port, load.key, payload)
            if interval:
                await asyncio.sleep(max(due - time.perf_counter(), 0))
                started, due = due, due + interval
            else:
                started = time.perf_counter()
            status, answer = await request(reader, writer, head, body)
            if measure_from <= started < stop_at:
                if status == 201:
                    outcome.latencies.append(time.perf_counter() - started)
                else:
                    outcome.errors.append(f"{status} {answer[:200]!r}")
    finally:
        writer.close()


async def drive(load: Load, server_pid: int) -> Outcome:
    outcome = Outcome()
    start = time.perf_counter()

    async def meter() -> None:
        await asyncio.sleep(load.warmup)
        server, client = cpu_seconds(server_pid), time.process_time()
        await asyncio.sleep(load.seconds)
        outcome.server_cpu = cpu_seconds(server_pid) - server
        outcome.client_cpu = time.process_time() - client

    await asyncio.gather(meter(), *(client(load, i, start, outcome) for i in range(load.clients)))
    outcome.elapsed = time.perf_counter() - start - load.warmup
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="server processes (one per core)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="offer this many cases/s in all (latency counted from when each was due); "
        "default: every client sends again as soon as it is answered (the most it takes)",
    )
    args = parser.parse_args()

    url = prepare_database(args.db)
    env = {**os.environ, "CIVICGRID_DATABASE_URL": url, "CIVICGRID_SCHEDULER_INTERVAL_SECONDS": "0"}
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    run("demo", "--reset", "--cases", "0", env=env)
    key = run("apikey", "add", "bench-hotline", "--department", "990100-CGJ", env=env).split()[-1]

    from civicgrid.bootstrap import build_platform
    from civicgrid.core.settings import Settings

    platform = build_platform(Settings(database_url=url))
    with platform.engine.connect() as connection:
        rows = connection.execute(text("SELECT geometry FROM areas WHERE level = 'grid'")).all()
        categories = [
            code
            for (code,) in connection.execute(
                text("SELECT code FROM categories WHERE parent_code IS NOT NULL")
            )
        ]
    platform.engine.dispose()
    # Reports fall anywhere in the city: random points inside random grids.
    rng = np.random.default_rng(1)
    grids = [shapely.from_geojson(geometry) for (geometry,) in rows]
    points = []
    while len(points) < 20_000:
        grid = grids[rng.integers(len(grids))]
        min_x, min_y, max_x, max_y = grid.bounds
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if shapely.contains_xy(grid, x, y):
            points.append((float(x), float(y)))

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
        load = Load(
            port, key, points, categories, args.clients, args.seconds, args.warmup, args.rate
        )
        outcome = asyncio.run(drive(load, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)

    done = len(outcome.latencies)
    ms = np.array(outcome.latencies) * 1000 if done else np.array([float("nan")])
    offered = f"{args.rate:,.0f} cases/s offered" if args.rate else "as fast as answered"
    print(
        f"intake ({offered}, {args.clients} clients, {args.workers} server process(es)): "
        f"{done / args.seconds:,.0f} cases/s over {args.seconds:.0f} s; "
        f"latency p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
        f"max {ms.max():.0f} ms; CPU per case: "
        f"server {outcome.server_cpu / max(done, 1) * 1000:.2f}"
        f" ms, load generator {outcome.client_cpu / max(done, 1) * 1000:.2f} ms; "
        f"{done:,} cases stored, {len(outcome.errors)} errors"
    )
    for error in outcome.errors[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
