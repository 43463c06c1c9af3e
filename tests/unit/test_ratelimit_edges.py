"""Edges of rate-limit parsing and pacing: the real clock, odd headers, window counting."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest

from knouds._stores.pacer import Pacer, Ticket
from knouds.models._ratelimit import RateLimit, clock_offset, parse_retry_after


def test_seconds_until_reset_defaults_to_the_real_clock() -> None:
    limit = RateLimit(limit=5, remaining=0, reset=time.time() + 100)
    assert 95 < limit.seconds_until_reset() <= 100
    assert RateLimit(limit=5, remaining=0, reset=time.time() - 100).seconds_until_reset() == 0.0


@pytest.mark.parametrize(
    ("offset", "seen"),
    [(-1.5, 0.0), (-1.6, -1.6), (0.75, 0.0), (0.8, 0.8), (2.0, 2.0), (-30.0, -30.0)],
)
def test_clock_skew_counts_only_beyond_rounding(offset: float, seen: float) -> None:
    server = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(server, tz=timezone.utc), usegmt=True)
    assert clock_offset(date, server - offset) == pytest.approx(seen)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "0.5", "retry-after": "9"}, 0.0005),
        ({"retry-after-ms": "-1", "retry-after": "9"}, 9.0),
    ],
)
def test_retry_after_ms_wins_down_to_zero(headers: dict[str, str], expected: float) -> None:
    assert parse_retry_after(headers) == pytest.approx(expected)


def test_a_retry_after_date_without_a_date_header_is_measured_against_the_real_clock() -> None:
    when = format_datetime(datetime.fromtimestamp(time.time() + 100, tz=timezone.utc), usegmt=True)
    wait = parse_retry_after({"retry-after": when})
    assert wait is not None
    assert 95 < wait <= 101


@pytest.mark.parametrize(
    ("limit", "reset", "parsed"),
    [
        ("0", "1700000000", True),
        ("5", "0", True),
        ("5", "253402300799", True),
        ("5", "253402300800", False),
        ("-1", "1700000000", False),
        ("5", "-1", False),
    ],
)
def test_rate_limit_headers_within_range_are_read(limit: str, reset: str, parsed: bool) -> None:
    headers = {"x-ratelimit-limit": limit, "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    state = RateLimit.from_headers(headers, now=1_700_000_000)
    assert (state is not None) == parsed
    if state is not None:
        assert (state.limit, state.reset) == (int(limit), float(reset))


# 2**53 is the last integer a float (and JSON in most languages) holds exactly: counts beyond it are
# garbage, not a window anyone could use up.
EXACT = 2**53


@pytest.mark.parametrize(
    ("limit", "remaining", "parsed"),
    [
        (EXACT, 0, True),
        (EXACT + 2, 0, False),
        (10, EXACT, True),
        (10, EXACT + 2, False),
        (EXACT + 2, EXACT + 2, False),
    ],
)
def test_counts_past_the_exact_range_of_a_float_are_not_trusted(
    limit: int, remaining: int, parsed: bool
) -> None:
    headers = {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": "1700000060",
    }
    state = RateLimit.from_headers(headers, now=1_700_000_000)
    assert (state is not None) == parsed
    if state is not None:
        assert (state.limit, state.remaining) == (limit, remaining)


@pytest.mark.parametrize("value", ["\u0661\u0660", "\uff11\uff10", "10\u00a0"])
def test_header_values_in_other_digits_than_ascii_are_not_read(value: str) -> None:
    raw = [
        (b"x-ratelimit-limit", value.encode()),
        (b"x-ratelimit-remaining", b"5"),
        (b"x-ratelimit-reset", b"1700000060"),
        (b"retry-after", value.encode()),
    ]
    headers = httpx.Headers(raw)
    for given in (headers, dict(headers.items())):
        assert RateLimit.from_headers(given, now=1_700_000_000) is None
        assert parse_retry_after(given) is None


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("reset", "offset", "trusted"),
    [
        # A reset up to an hour ahead on this machine's clock is trusted as it is, skew included.
        (NOW + 3590.0, -10.0, (NOW + 3590.0, -10.0)),
        (NOW + 60.0, 30.0, (NOW + 60.0, 30.0)),
        # Only the Date header puts it further ahead (a server clock years behind): the Date is
        # ignored, the reset read on this machine's clock.
        (NOW + 30.0, -2 * 365 * 86400.0, (NOW + 30.0, 0.0)),
        (NOW + 3600.0, -3 * 86400.0, (NOW + 3600.0, 0.0)),
        # Over an hour ahead whichever clock reads it: a broken header, left out.
        (NOW + 3600.5, -3 * 86400.0, None),
        (NOW + 7200.0, 0.0, None),
    ],
)
def test_pacing_trusts_a_reset_no_more_than_an_hour_ahead(
    reset: float, offset: float, trusted: tuple[float, float] | None
) -> None:
    state = RateLimit(limit=5, remaining=0, reset=reset, clock_offset=offset).for_pacing(NOW)
    if trusted is None:
        assert state is None
    else:
        assert state is not None
        assert (state.reset, state.clock_offset) == trusted
        assert (state.limit, state.remaining) == (5, 0)


def test_rate_limit_headers_with_a_date_default_to_the_real_clock() -> None:
    now = time.time()
    date = format_datetime(datetime.fromtimestamp(now + 120, tz=timezone.utc), usegmt=True)
    headers = {
        "x-ratelimit-limit": "5",
        "x-ratelimit-remaining": "1",
        "x-ratelimit-reset": str(int(now) + 180),
        "date": date,
    }
    state = RateLimit.from_headers(headers)
    assert state is not None
    assert 115 < state.clock_offset < 125


# -- the pacer's count of a window --------------------------------------------------------------

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def granted(pacer: Pacer, bucket: str = "models") -> Ticket:
    ticket, wait = pacer.acquire(bucket)
    assert ticket is not None, f"expected a slot, was told to wait {wait} s"
    assert ticket.bucket == bucket
    return ticket


def test_a_window_is_not_reopened_before_its_reset_and_margin() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.release(granted(pacer), RateLimit(limit=1, remaining=0, reset=T0 + 10))
    clock.now = T0 + 10  # the reset itself: still a hair early
    ticket, wait = pacer.acquire("models")
    assert ticket is None
    assert wait == pytest.approx(0.05)
    clock.now = T0 + 10.049
    assert pacer.acquire("models")[1] == pytest.approx(0.001)
    clock.now = T0 + 10.05
    granted(pacer)


def test_responses_of_the_current_window_reveal_what_others_spent() -> None:
    pacer = Pacer(Clock())
    pacer.release(granted(pacer), RateLimit(limit=10, remaining=9, reset=T0 + 60))
    assert pacer.budget("models") == 9
    pacer.release(granted(pacer), RateLimit(limit=10, remaining=5, reset=T0 + 60))
    assert pacer.budget("models") == 5  # 2 of ours, 3 by someone else


def test_the_first_answer_keeps_counting_requests_still_in_flight() -> None:
    pacer = Pacer(Clock())
    first, second, third = granted(pacer), granted(pacer), granted(pacer)
    pacer.release(first, RateLimit(limit=10, remaining=9, reset=T0 + 60))
    assert pacer.budget("models") == 7
    pacer.release(second, RateLimit(limit=10, remaining=8, reset=T0 + 60))
    assert pacer.budget("models") == 7
    pacer.release(third, None)
    assert pacer.budget("models") == 7


def test_an_answer_of_a_request_sent_before_the_window_was_learnt_still_reveals_others() -> None:
    pacer = Pacer(Clock())
    first, second, third = granted(pacer), granted(pacer), granted(pacer)
    pacer.release(first, RateLimit(limit=10, remaining=9, reset=T0 + 60))
    # ``second`` left before that window was learnt, and answers from the same window: 5 of the
    # window's 10 are spent, 3 of them ours, so others spent 2.
    pacer.release(second, RateLimit(limit=10, remaining=5, reset=T0 + 60))
    assert pacer.budget("models") == 5
    pacer.release(third, None)


def test_a_straggler_of_an_older_window_never_rewinds_the_newer_one() -> None:
    pacer = Pacer(Clock())
    first, second = granted(pacer), granted(pacer)
    # The newer window is learnt from ``first`` once ``second`` already left: ``second`` is the
    # last ticket issued then, and an older window in its answer is a straggler, not a correction.
    pacer.release(first, RateLimit(limit=10, remaining=9, reset=T0 + 120))
    pacer.release(second, RateLimit(limit=10, remaining=0, reset=T0 + 60))
    assert pacer.snapshot()["models"].reset == T0 + 120
    assert pacer.budget("models") == 8


def test_a_failed_request_still_counts_when_the_first_answer_arrives() -> None:
    pacer = Pacer(Clock())
    answered, failed = granted(pacer), granted(pacer)
    pacer.release(failed, None)
    pacer.release(answered, RateLimit(limit=10, remaining=9, reset=T0 + 60))
    assert pacer.budget("models") == 8


def test_a_server_window_that_rolled_over_first_counts_only_whats_in_flight() -> None:
    pacer = Pacer(Clock())
    pacer.release(granted(pacer), RateLimit(limit=10, remaining=5, reset=T0 + 60))
    assert pacer.budget("models") == 5
    early, late = granted(pacer), granted(pacer)
    pacer.release(early, RateLimit(limit=10, remaining=9, reset=T0 + 120))
    assert pacer.budget("models") == 8  # the new window holds this answer and ``late``
    pacer.release(late, None)


def test_after_failures_taught_nothing_counting_starts_afresh_and_slots_come_back() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.release(granted(pacer), RateLimit(limit=2, remaining=1, reset=T0 + 1))
    clock.now = T0 + 2
    for ticket in [granted(pacer), granted(pacer)]:
        pacer.release(ticket, None)
    fresh = granted(pacer)  # nothing in flight: start counting afresh
    assert pacer.budget("models") == 1
    second = granted(pacer)
    assert pacer.acquire("models")[0] is None
    pacer.release(fresh, None)
    pacer.release(second, None)
    granted(pacer)  # every slot was handed back, so counting starts afresh again


def test_tickets_are_distinct_for_every_grant() -> None:
    pacer = Pacer(Clock())
    tickets = [granted(pacer, bucket) for bucket in ("models", "workflows") for _ in range(3)]
    assert len({t.seq for t in tickets}) == 6
