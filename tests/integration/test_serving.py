"""`civicgrid serve --workers N`: one listening socket, N processes, each new connection
handed to the process with the fewest open."""

from __future__ import annotations

import http.client
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

from civicgrid.serving import can_pass_sockets

pytestmark = pytest.mark.skipif(
    not (can_pass_sockets() and Path("/proc/net/tcp").exists()),
    reason="needs sockets passed between processes and /proc (Linux)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sockets(port: int, state: str) -> dict[str, int]:
    """The port's sockets in STATE ("0A" listening, "01" established): inode → the
    other end's port."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == state:
            found[fields[9]] = int(fields[2].split(":")[1], 16)
    return found


def listeners(port: int) -> int:
    return len(sockets(port, "0A"))


def clients_of(pid: int, port: int) -> set[int]:
    """The client ports of the connections to PORT that process PID serves."""
    established = sockets(port, "01")
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in established:
            held.add(established[target[8:-1]])
    return held


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


def alive(pid: int) -> bool:
    """Whether process PID runs (a zombie waiting for its parent's successor does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def serve_two_workers(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """`civicgrid serve --workers 2` on PORT, its database in TMP_PATH, no periodic jobs."""
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "CIVICGRID_SCHEDULER_INTERVAL_SECONDS": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "civicgrid", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_connections_are_spread_evenly_a_dead_worker_is_replaced_and_sigterm_stops_all(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = serve_two_workers(tmp_path, port)
    clients: dict[int, http.client.HTTPConnection] = {}  # by the client's port
    try:
        assert wait_until(lambda: listeners(port) == 1), "the parent should listen"
        assert wait_until(lambda: health(port) == 200)
        workers = [pid for pid in children(server.pid) if "spawn_main" in cmdline(pid)]
        assert len(workers) == 2

        # Six keep-alive clients: three on each worker, whatever their addresses.
        for _ in range(6):
            connection = keep_alive(port)
            clients[connection.sock.getsockname()[1]] = connection
        first, second = (clients_of(pid, port) for pid in workers)
        assert len(first) == len(second) == 3 and first | second == set(clients)
        # Two of the first worker's clients leave: the next two go to it.
        for client in sorted(first)[:2]:
            clients.pop(client).close()
        assert wait_until(lambda: len(clients_of(workers[0], port)) == 1)
        time.sleep(0.5)  # the worker has counted them closed
        for _ in range(2):
            connection = keep_alive(port)
            clients[connection.sock.getsockname()[1]] = connection
        assert len(clients_of(workers[0], port)) == len(clients_of(workers[1], port)) == 3

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: victim not in children(server.pid))
        assert wait_until(
            lambda: len([p for p in children(server.pid) if "spawn_main" in cmdline(p)]) == 2
        )
        assert wait_until(lambda: health(port) == 200)

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
        assert listeners(port) == 0
    finally:
        for connection in clients.values():
            connection.close()
        if server.poll() is None:
            server.kill()


def keep_alive(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/health")
    assert connection.getresponse().read()
    return connection


def health(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            return int(answer.status)
    except OSError:
        return None


def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    port = free_port()
    server = serve_two_workers(tmp_path, port)
    try:
        assert wait_until(lambda: health(port) == 200)
        workers = [pid for pid in children(server.pid) if "spawn_main" in cmdline(pid)]
        assert len(workers) == 2
        server.kill()
        server.wait(timeout=10)
        # No orphan keeps serving: each worker sees its parent gone and stops.
        assert wait_until(lambda: not any(alive(pid) for pid in workers), 30)
    finally:
        if server.poll() is None:
            server.kill()
