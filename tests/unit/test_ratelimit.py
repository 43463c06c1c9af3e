"""Rate-limit headers, Retry-After parsing (a table), and the pacer's bookkeeping."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from knouds import RateLimit
from knouds._core.requests import Endpoint
from knouds._stores.pacer import Pacer
from knouds.models._ratelimit import clock_offset, parse_retry_after

NOW = 1_700_000_000.0


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "5"}, 5.0),
        ({"retry-after": " 7 "}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "abc"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "99999999"}, 99999999.0),
        ({"retry-after": http_date(NOW + 30)}, 30.0),
        ({"retry-after": http_date(NOW - 30)}, 0.0),
        # An HTTP-date is read against the server's own Date header when there is one.
        ({"retry-after": http_date(NOW + 130), "date": http_date(NOW + 100)}, 30.0),
        ({"retry-after": "Wed, 32 Foo 2026 99:00:00 GMT"}, None),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit": "100"},
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "x", "x-ratelimit-reset": "1"},
        {"x-ratelimit-limit": "-1", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1"},
        {"x-ratelimit-limit": "nan", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1"},
    ],
)
def test_missing_or_malformed_headers_give_none(headers: dict[str, str]) -> None:
    assert RateLimit.from_headers(headers, now=NOW) is None


def test_rate_limit_from_headers_and_seconds_until_reset() -> None:
    headers = {
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "87",
        "x-ratelimit-reset": "1700000030",
    }
    limit = RateLimit.from_headers(headers, now=NOW)
    assert limit == RateLimit(limit=100, remaining=87, reset=1_700_000_030)
    assert limit is not None
    assert limit.seconds_until_reset(NOW) == 30.0
    assert limit.seconds_until_reset(NOW + 100) == 0.0
    assert limit.reset_at.year == 2023


def test_httpx_headers_read_in_one_pass_like_a_mapping() -> None:
    raw = [
        (b"X-RateLimit-Limit", b"100"),
        (b"Content-Type", b"application/json"),
        (b"x-ratelimit-remaining", b"87"),
        (b"X-RATELIMIT-RESET", b"1700000030"),
        (b"Date", http_date(NOW + 40).encode()),
    ]
    as_mapping = {name.decode().lower(): value.decode() for name, value in raw}
    parsed = RateLimit.from_headers(httpx.Headers(raw), now=NOW)
    assert parsed == RateLimit.from_headers(as_mapping, now=NOW)
    assert parsed is not None
    assert parsed.clock_offset == pytest.approx(40.0)
    # A repeated header reads as httpx reads it ("100, 50"): not a number, so no rate limit.
    repeated = httpx.Headers([*raw, (b"x-ratelimit-limit", b"50")])
    assert repeated.get("x-ratelimit-limit") == "100, 50"
    assert RateLimit.from_headers(repeated, now=NOW) is None


def test_clock_skew_is_corrected_with_the_date_header() -> None:
    # The server's clock runs 40 s ahead of ours: its reset is 40 s "later" than it looks.
    headers = {
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(int(NOW + 40 + 20)),
        "date": http_date(NOW + 40),
    }
    limit = RateLimit.from_headers(headers, now=NOW)
    assert limit is not None
    assert limit.clock_offset == pytest.approx(40.0)
    assert limit.seconds_until_reset(NOW) == pytest.approx(20.0)


def test_small_date_differences_are_rounding_not_skew() -> None:
    assert clock_offset(http_date(NOW), NOW + 0.9) == 0.0
    assert clock_offset(http_date(NOW), NOW + 1.4) == 0.0
    assert clock_offset(http_date(NOW), NOW - 0.5) == 0.0
    assert clock_offset(http_date(NOW), NOW - 5) == pytest.approx(5.0)
    assert clock_offset("garbage", NOW) == 0.0
    assert clock_offset(None, NOW) == 0.0


@pytest.mark.parametrize(
    ("endpoint", "bucket"),
    [
        (Endpoint.model_run("gpt-image-2", submission=False), "models"),
        (Endpoint.model_run("suno-v5", submission=False), "models"),
        (Endpoint.workflow_run("my-flow", submission=False), "workflows"),
        (Endpoint.workflow_schema("my-flow"), "workflows.schema"),
        (Endpoint.execution("abc"), "executions"),
        (Endpoint.whoami(), "whoami"),
    ],
    ids=lambda v: v.path if isinstance(v, Endpoint) else v,
)
def test_each_route_counts_against_its_bucket(endpoint: Endpoint, bucket: str) -> None:
    assert endpoint.bucket == bucket


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def rl(remaining: int, reset: float, limit: int = 5) -> RateLimit:
    return RateLimit(limit=limit, remaining=remaining, reset=reset)


def test_pacer_lets_unknown_buckets_through() -> None:
    pacer = Pacer(Clock())
    tickets = [pacer.acquire("models")[0] for _ in range(50)]
    assert all(t is not None for t in tickets)
    assert pacer.budget("models") is None


def test_pacer_waits_for_reset_when_budget_is_spent() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    first, _ = pacer.acquire("models")
    assert first is not None
    pacer.release(first, rl(remaining=2, reset=NOW + 10))
    granted = [pacer.acquire("models") for _ in range(3)]
    assert [t is not None for t, _ in granted] == [True, True, False]
    assert granted[2][1] == pytest.approx(10.05)
    # Another bucket is not affected.
    assert pacer.acquire("workflows")[0] is not None
    clock.now = NOW + 10.1
    assert pacer.acquire("models")[0] is not None
    assert pacer.budget("models") == 5 - 2 - 1  # fresh window minus the two still in flight


def test_pacer_counts_requests_in_flight() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    t1, _ = pacer.acquire("models")
    t2, _ = pacer.acquire("models")
    t3, _ = pacer.acquire("models")
    assert t1
    assert t2
    assert t3
    # The server counted t1 only (remaining 4); t2 and t3 were sent after t1 and are in flight.
    pacer.release(t1, rl(remaining=4, reset=NOW + 10))
    assert pacer.budget("models") == 2
    # A late answer of an older window changes nothing.
    pacer.release(t2, rl(remaining=0, reset=NOW - 50))
    assert pacer.budget("models") == 2


def test_pacer_snapshot_and_pace_false() -> None:
    pacer = Pacer(Clock())
    ticket, _ = pacer.acquire("models")
    assert ticket is not None
    pacer.release(ticket, rl(remaining=0, reset=NOW + 10))
    assert pacer.acquire("models")[0] is None
    assert pacer.acquire("models", pace=False)[0] is not None
    assert pacer.snapshot()["models"].remaining == 0


def test_pacer_polls_when_the_next_reset_is_unknown() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    ticket, _ = pacer.acquire("models")
    assert ticket is not None
    pacer.release(ticket, rl(remaining=0, reset=NOW + 1, limit=1))
    clock.now = NOW + 2
    granted, _ = pacer.acquire("models")  # the new window's single slot
    assert granted is not None
    again, wait = pacer.acquire("models")
    assert again is None
    assert 0 < wait <= 0.1  # ask again soon: the answer in flight will tell the new reset
    pacer.release(granted, rl(remaining=0, reset=NOW + 3, limit=1))
    assert pacer.acquire("models")[1] == pytest.approx(1.05)


def test_pacer_does_not_stall_when_failed_requests_taught_nothing() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    ticket, _ = pacer.acquire("models")
    assert ticket is not None
    pacer.release(ticket, rl(remaining=1, reset=NOW + 1, limit=2))
    clock.now = NOW + 2  # a new window; its budget is spent by requests that then fail
    for _ in range(2):
        failed, _ = pacer.acquire("models")
        assert failed is not None
        pacer.release(failed, None)  # a connection error: no headers
    # Nothing is in flight that could teach the new window: the next request goes and learns.
    ticket, wait = pacer.acquire("models")
    assert ticket is not None
    assert wait == 0.0
