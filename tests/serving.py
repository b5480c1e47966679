"""`civicgrid` run as a real server, for the tests that need one (the browser tests, the
installed wheel): a free port, the passwords the demo prints, and a server started, waited
for and stopped."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_passwords(printed: str) -> dict[str, str]:
    """Username → password, from the table of accounts `civicgrid demo` prints."""
    passwords = {}
    for line in printed.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and cells[2] and cells[3] and cells[2] != "username":
            passwords[cells[2]] = cells[3]
    return passwords


@contextmanager
def served(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    log: Path,
    *,
    cwd: Path | None = None,
    seconds: float = 60,
) -> Iterator[str]:
    """The URL of the server COMMAND(port) starts, once its /health answers; stopped after.
    Its output goes to the file LOG, not a pipe: nobody reads a pipe while the tests run,
    and once its buffer is full the server's log would block the server."""
    port = free_port()
    with log.open("wb") as output:  # the server keeps its own copy open
        process = subprocess.Popen(
            command(port), env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start:\n" + log.read_text(errors="replace"))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
