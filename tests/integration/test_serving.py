"""`civicgrid serve --workers N`: N processes, each listening on the port itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from civicgrid.serving import can_share_port

pytestmark = pytest.mark.skipif(
    not (can_share_port() and Path("/proc/net/tcp").exists()),
    reason="needs SO_REUSEPORT and /proc (Linux)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listeners(port: int) -> int:
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    )


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def test_every_worker_listens_a_dead_one_is_replaced_and_sigterm_stops_all(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "CIVICGRID_SCHEDULER_INTERVAL_SECONDS": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "civicgrid", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: listeners(port) == 2), "two processes should listen"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200

        workers = [pid for pid in children(server.pid) if "spawn_main" in cmdline(pid)]
        assert len(workers) == 2
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: victim not in children(server.pid) and listeners(port) == 2)

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
        assert listeners(port) == 0
    finally:
        if server.poll() is None:
            server.kill()
