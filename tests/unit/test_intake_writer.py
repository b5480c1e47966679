"""The intake writer stores what is queued, in batches, and answers each report after it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from civicgrid.cases.intake import IntakeWriter
from civicgrid.core.errors import InvalidInput


class Recorder:
    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[Any]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, reports: list[tuple[Any, Any]]) -> list[Any]:
        """Stores (actor, report) pairs; a refused report answers its error."""
        news = [new for _actor, new in reports]
        if self.fail_on in news:
            raise ValueError("a bad report")
        with self.lock:
            self.batches.append(news)
        return [InvalidInput("case_needs_place") if n == "refused" else n for n in news]


@pytest.fixture
def writer() -> IntakeWriter:
    """A writer whose storing is replaced by each test (no database needed)."""
    return IntakeWriter(session_factory=None, ports=None, gather_seconds=0.05)  # type: ignore[arg-type]


def test_reports_arriving_together_are_stored_together(writer: IntakeWriter) -> None:
    recorder = Recorder()
    writer._write = recorder  # type: ignore[method-assign]
    writer.start()
    futures = [writer.submit(None, n) for n in range(5)]  # type: ignore[arg-type]
    assert [f.result(timeout=5) for f in futures] == [0, 1, 2, 3, 4]
    writer.stop()
    assert sum(len(b) for b in recorder.batches) == 5
    assert len(recorder.batches) < 5


def test_one_bad_report_does_not_sink_the_others(writer: IntakeWriter) -> None:
    recorder = Recorder(fail_on="bad")
    writer._write = recorder  # type: ignore[method-assign]
    writer.start()
    good, bad, other = (writer.submit(None, x) for x in ("good", "bad", "other"))  # type: ignore[arg-type]
    assert good.result(timeout=5) == "good" and other.result(timeout=5) == "other"
    with pytest.raises(ValueError):
        bad.result(timeout=5)
    writer.stop()


def test_a_writer_used_by_two_apps_keeps_running_until_both_stop(writer: IntakeWriter) -> None:
    writer._write = Recorder()  # type: ignore[method-assign]
    writer.start()
    writer.start()
    writer.stop()
    assert writer.submit(None, "still served").result(timeout=5) == "still served"  # type: ignore[arg-type]
    writer.stop()


def test_a_refused_report_answers_its_error_and_the_batch_is_stored(writer: IntakeWriter) -> None:
    recorder = Recorder()
    writer._write = recorder  # type: ignore[method-assign]
    writer.start()
    good, refused = (writer.submit(None, x) for x in ("good", "refused"))  # type: ignore[arg-type]
    assert good.result(timeout=5) == "good"
    with pytest.raises(InvalidInput):
        refused.result(timeout=5)
    writer.stop()


def test_request_handlers_get_the_answer_on_their_event_loop(writer: IntakeWriter) -> None:
    writer._write = Recorder()  # type: ignore[method-assign]
    writer.start()

    async def handlers() -> tuple[object, BaseException | None]:
        stored = await writer.report(None, "good")  # type: ignore[arg-type]
        try:
            await writer.report(None, "refused")  # type: ignore[arg-type]
        except InvalidInput as error:
            return stored, error
        return stored, None

    stored, error = asyncio.run(handlers())
    writer.stop()
    assert stored == "good"
    assert isinstance(error, InvalidInput)
