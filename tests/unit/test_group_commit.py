"""Group commit stores what is queued, in batches, and answers each item after it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.groupcommit import GroupCommit


class Recorder:
    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[Any]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, uow: UnitOfWork, news: Any) -> list[Any]:
        """Stores the items; a refused one answers its error."""
        news = list(news)
        if self.fail_on in news:
            raise ValueError("a bad report")
        with self.lock:
            self.batches.append(news)
        return [InvalidInput("case_needs_place") if n == "refused" else n for n in news]


Writer = GroupCommit[Any, Any]


@pytest.fixture
def writer() -> Writer:
    """A writer on an in-memory database whose storing each test sets."""
    factory = sessionmaker(bind=create_engine("sqlite://"))
    return GroupCommit("test-writer", factory, Recorder(), gather_seconds=0.05)


def test_items_arriving_together_are_stored_together(writer: Writer) -> None:
    recorder = Recorder()
    writer._write = recorder
    writer.start()
    futures = [writer.submit(n) for n in range(5)]
    assert [f.result(timeout=5) for f in futures] == [0, 1, 2, 3, 4]
    writer.stop()
    assert sum(len(b) for b in recorder.batches) == 5
    assert len(recorder.batches) < 5


def test_one_bad_item_does_not_sink_the_others(writer: Writer) -> None:
    recorder = Recorder(fail_on="bad")
    writer._write = recorder
    writer.start()
    good, bad, other = (writer.submit(x) for x in ("good", "bad", "other"))
    assert good.result(timeout=5) == "good" and other.result(timeout=5) == "other"
    with pytest.raises(ValueError):
        bad.result(timeout=5)
    writer.stop()


def test_a_writer_used_by_two_apps_keeps_running_until_both_stop(writer: Writer) -> None:
    writer._write = Recorder()
    writer.start()
    writer.start()
    writer.stop()
    assert writer.submit("still served").result(timeout=5) == "still served"
    writer.stop()


def test_a_refused_item_answers_its_error_and_the_batch_is_stored(writer: Writer) -> None:
    recorder = Recorder()
    writer._write = recorder
    writer.start()
    good, refused = (writer.submit(x) for x in ("good", "refused"))
    assert good.result(timeout=5) == "good"
    with pytest.raises(InvalidInput):
        refused.result(timeout=5)
    writer.stop()


def test_request_handlers_get_the_answer_on_their_event_loop(writer: Writer) -> None:
    writer._write = Recorder()
    writer.start()

    async def handlers() -> tuple[object, BaseException | None]:
        stored = await writer.stored("good")
        try:
            await writer.stored("refused")
        except InvalidInput as error:
            return stored, error
        return stored, None

    stored, error = asyncio.run(handlers())
    writer.stop()
    assert stored == "good"
    assert isinstance(error, InvalidInput)
