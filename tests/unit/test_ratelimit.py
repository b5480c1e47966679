import pytest

from civicgrid.core.ratelimit import RateLimiter, TooManyAttempts


def test_attempts_over_the_limit_are_refused_until_the_window_passes() -> None:
    limiter = RateLimiter(limit=3, window_seconds=60)
    for second in range(3):
        limiter.check("10.0.0.1", now=100 + second)
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("10.0.0.1", now=110)
    assert refused.value.status == 429 and refused.value.params["seconds"] == 51
    limiter.check("10.0.0.2", now=110)  # another address is not affected
    limiter.check("10.0.0.1", now=161)  # the first attempt has left the window
