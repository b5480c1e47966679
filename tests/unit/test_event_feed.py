"""The event log read as a feed (core.workflow.FeedPosition): numbers skipped over are
asked for again until they turn up or are given up as rolled back."""

from __future__ import annotations

from civicgrid.core.workflow import FEED_GAP_SECONDS, FeedPosition


def test_a_feed_moves_past_what_it_read() -> None:
    position = FeedPosition(10)
    position.saw([11, 12, 13], clock=0.0)
    assert (position.after, position.missing) == (13, {})


def test_a_number_skipped_over_is_wanted_until_it_commits() -> None:
    position = FeedPosition(10)
    # 12 was drawn by a transaction that has not committed yet when 13 is read.
    position.saw([11, 13], clock=5.0)
    assert position.after == 13 and position.missing == {12: 5.0}
    position.saw([12, 14], clock=6.0)
    assert position.after == 14 and position.missing == {}


def test_a_number_never_committed_is_given_up() -> None:
    position = FeedPosition(0)
    position.saw([3], clock=0.0)
    assert set(position.missing) == {1, 2}
    position.forget_old(clock=FEED_GAP_SECONDS / 2)
    assert set(position.missing) == {1, 2}
    position.forget_old(clock=FEED_GAP_SECONDS + 1)
    assert position.missing == {}


def test_an_old_read_does_not_move_the_feed_back() -> None:
    position = FeedPosition(20)
    position.saw([], clock=0.0)
    position.saw([5], clock=0.0)
    assert (position.after, position.missing) == (20, {})
