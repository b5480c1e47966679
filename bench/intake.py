"""Sustained case intake through the HTTP API: many clients posting reports at once.

    .venv/bin/python bench/intake.py                       # SQLite, a fresh database
    .venv/bin/python bench/intake.py --db postgresql://postgres@127.0.0.1:5432/civicgrid_bench
    .venv/bin/python bench/intake.py --clients 32 --seconds 30 --workers 2

Sets up a demo city in the database (PostgreSQL: the database is created and emptied),
starts `civicgrid serve` in its own process(es), and drives POST /api/v1/cases from
CLIENTS concurrent keep-alive connections with a department API key (a 12345 hotline
system). Prints cases/s, p50/p99 latency and errors. Targets: 500 cases/s on PostgreSQL,
300/s on SQLite, p99 under 100 ms.

The load generator is a small asyncio HTTP/1.1 client, so that it leaves the CPU to the
server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
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


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


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


async def client(
    port: int,
    key: str,
    points: list[tuple[float, float]],
    categories: list[str],
    stop_at: float,
    measure_from: float,
    latencies: list[float],
    errors: list[str],
    seed: int,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            lon, lat = rng.choice(points)
            payload = {
                "description": rng.choice(DESCRIPTIONS),
                "category": rng.choice(categories),
                "lat": lat,
                "lon": lon,
                "channel": "hotline",
                "reporter": {"phone": f"138{rng.randint(0, 99_999_999):08d}"},
            }
            head, body = post("/api/v1/cases", port, key, payload)
            started = time.perf_counter()
            status, answer = await request(reader, writer, head, body)
            if started >= measure_from:
                if status == 201:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors.append(f"{status} {answer[:200]!r}")
    finally:
        writer.close()


async def drive(
    port: int,
    key: str,
    points: list[tuple[float, float]],
    categories: list[str],
    clients: int,
    seconds: float,
    warmup: float,
) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    await asyncio.gather(
        *(
            client(port, key, points, categories, stop_at, measure_from, latencies, errors, i)
            for i in range(clients)
        )
    )
    return latencies, errors, time.perf_counter() - measure_from


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
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
        wait_for(port)
        latencies, errors, elapsed = asyncio.run(
            drive(port, key, points, categories, args.clients, args.seconds, args.warmup)
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    done = len(latencies)
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    print(
        f"intake: {done / elapsed:,.0f} cases/s over {elapsed:.0f} s with {args.clients} clients, "
        f"{args.workers} server process(es); latency p50 {np.percentile(ms, 50):.1f} ms, "
        f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.0f} ms; "
        f"{done:,} cases stored, {len(errors)} errors"
    )
    for error in errors[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
