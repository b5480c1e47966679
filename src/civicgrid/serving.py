"""`civicgrid serve --workers N`: N server processes on one port, each with its own socket.

With one shared listening socket (uvicorn's own workers), whichever process is quickest
to accept takes the next connection, and long-lived keep-alive connections (a hotline
system, an Open311 app, a proxy) can all end up on one process while the others idle:
measured with bench/intake.py, 32 connections went 32 to 0 in two runs of three. Here every
process binds the port itself with SO_REUSEPORT and the kernel spreads connections over
them by address, so each process gets its share. Where the system has no SO_REUSEPORT,
uvicorn's workers are used instead.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

APP_FACTORY = "civicgrid.app:create_served_app"


def can_share_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def serve_processes(host: str, port: int, workers: int, access_log: bool) -> None:
    """Run WORKERS server processes until told to stop (Ctrl-C or SIGTERM); a process that
    dies is replaced."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=_serve_one, args=(host, port, access_log))
        process.start()
        return process

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    processes = [start() for _ in range(workers)]
    while not stopping:
        time.sleep(0.5)
        processes = [p if p.is_alive() or stopping else start() for p in processes]
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()  # uvicorn finishes the requests in hand, then exits
    for process in processes:
        process.join(timeout=30)


def _serve_one(host: str, port: int, access_log: bool) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    # No proxy headers here: the app believes them only from CIVICGRID_TRUSTED_PROXIES.
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        access_log=access_log,
        log_level="warning",
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[listener])
