"""SQLite writers take turns across processes: a lock on a file beside the database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from civicgrid.core.db import WriteTurn


def test_a_second_process_waits_for_the_turn_and_gets_it_at_once(tmp_path: Path) -> None:
    database = str(tmp_path / "city.db")
    mine, theirs = WriteTurn(database), WriteTurn(database)  # two opens: two processes
    mine.take()
    taken = threading.Event()

    def other_process() -> None:
        theirs.take()
        taken.set()
        theirs.give_back()

    waiter = threading.Thread(target=other_process)
    waiter.start()
    assert not taken.wait(0.2)  # still my turn
    given_back = time.monotonic()
    mine.give_back()
    assert taken.wait(5)
    assert time.monotonic() - given_back < 0.5  # woken, not polling
    waiter.join()
    assert (tmp_path / "city.db.write-turn").exists()


def test_an_in_memory_database_needs_no_file() -> None:
    turn = WriteTurn(None)
    turn.take()
    turn.give_back()
