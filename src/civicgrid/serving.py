"""`civicgrid serve --workers N`: N server processes behind one listening socket, each new
connection handed to the process with the fewest open.

A keep-alive connection (a department's system reading the exchange, a hotline system, an
Open311 app, a proxy) stays on the process that took it, and a process runs one core's
worth of Python at most, so how connections are spread decides how long clients wait:

- with one shared socket (uvicorn's own workers), whichever process is quickest to accept
  takes the next connection: measured with bench/intake.py, 32 connections went 32 to 0 in
  two runs of three;
- with a socket per process (SO_REUSEPORT), the kernel spreads them by address, at random:
  16 connections split 10 to 6 or worse in nearly half of all runs, and the busier
  process's clients waited longer (bench/exchange.py, reads p95: 97 ms at 10 to 6, 67 ms
  at 8 to 8, in the same hour).

Here the parent process accepts every connection and passes it (SCM_RIGHTS over a Unix
socket pair) to the worker with the fewest open connections, which serves it from then on:
the parent counts and hands over, and never reads a byte. Each worker counts the
connections it has seen close in memory the parent reads. Where sockets cannot be passed
between processes (Windows), uvicorn's workers are used instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import selectors
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from types import FrameType
from typing import Any

import uvicorn

APP_FACTORY = "civicgrid.app:create_served_app"


def can_pass_sockets() -> bool:
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


@dataclass
class _Worker:
    process: BaseProcess
    channel: socket.socket  # the parent's end of the pair the connections go through
    closed: Synchronized[int]  # connections the worker has seen close, counted by it
    handed: int = 0

    def open_connections(self) -> int:
        return self.handed - self.closed.value


def serve_processes(host: str, port: int, workers: int, access_log: bool) -> None:
    """Run WORKERS server processes and hand them the port's connections until told to
    stop (Ctrl-C or SIGTERM); a process that dies is replaced."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> _Worker:
        # A stream, not datagrams: a worker sees its end of file when the parent is gone.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        closed: Synchronized[int] = context.Value("Q", 0, lock=False)
        process = context.Process(target=_serve_one, args=(theirs, closed, access_log))
        process.start()
        theirs.close()
        return _Worker(process, ours, closed)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    listener = _listen(host, port)
    running = [start() for _ in range(workers)]
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not stopping:
            if selector.select(timeout=0.5):
                _hand_over(listener, [w for w in running if w.process.is_alive()])
            for n, worker in enumerate(running):
                if not worker.process.is_alive() and not stopping:
                    worker.channel.close()
                    running[n] = start()
    listener.close()
    for worker in running:
        if worker.process.pid is not None and worker.process.is_alive():
            worker.process.terminate()  # uvicorn finishes the requests in hand, then exits
    for worker in running:
        worker.process.join(timeout=30)
        worker.channel.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.setblocking(False)
    return listener


def _hand_over(listener: socket.socket, alive: list[_Worker]) -> None:
    """Every connection waiting on LISTENER, each to the worker with the fewest open."""
    while alive:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionAbortedError:  # the client left before it was taken
            continue
        except OSError:  # out of descriptors (EMFILE …): let connections close first
            time.sleep(0.1)
            return
        with connection:  # the worker has its own copy once sent
            worker = min(alive, key=_Worker.open_connections)
            try:
                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
            except OSError:
                continue  # the worker has just died: the client sees the connection close
            worker.handed += 1


def _serve_one(channel: socket.socket, closed: Synchronized[int], access_log: bool) -> None:
    # No proxy headers here: the app believes them only from CIVICGRID_TRUSTED_PROXIES.
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        access_log=access_log,
        log_level="warning",
        proxy_headers=False,
    )
    HandedConnections(config, channel, closed).run(sockets=[])


class HandedConnections(uvicorn.Server):
    """A uvicorn server with no socket of its own: it serves the connections its parent
    passes it through CHANNEL, and counts in CLOSED those that have closed."""

    def __init__(
        self, config: uvicorn.Config, channel: socket.socket, closed: Synchronized[int]
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.closed = closed
        self.handing: set[asyncio.Task[None]] = set()
        self.protocol_class: Any = None  # uvicorn's, counting closes: known once loaded

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if self.should_exit:
            return
        base = self.config.http_protocol_class
        closed = self.closed

        class Counted(base):  # type: ignore[valid-type,misc]
            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                closed.value += 1

        self.protocol_class = Counted
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._take_handed)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()
        await super().shutdown(sockets)

    def _take_handed(self) -> None:
        # One byte comes with each connection: read a byte at a time, so that each read
        # takes exactly the connection sent with its byte.
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(self.channel, 1, 1)
            except (BlockingIOError, InterruptedError):
                return
            if not message and not fds:  # the parent has gone: finish and stop
                asyncio.get_running_loop().remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                handed = socket.socket(fileno=fd)
                task = asyncio.get_running_loop().create_task(self._serve_handed(handed))
                self.handing.add(task)
                task.add_done_callback(self.handing.discard)

    async def _serve_handed(self, connection: socket.socket) -> None:
        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = self.protocol_class(
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
            )
            return made

        try:
            await asyncio.get_running_loop().connect_accepted_socket(protocol, connection)
        except OSError:  # closed by the client in between: counted as closed
            connection.close()
            self.closed.value += 1
