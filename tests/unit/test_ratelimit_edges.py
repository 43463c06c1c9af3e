"""Edges of rate-limit parsing and bucketing: unknown routes, the real clock, odd headers."""

from __future__ import annotations

import time

import pytest

from knouds._ratelimit import RateLimit, bucket_for_path


@pytest.mark.parametrize(
    ("path", "bucket"),
    [
        ("/api/things/x/run", "things"),
        ("/api/models/a/b/run", "models"),
        ("/api/models/workflows/run", "models"),
        ("/api/workflows/models/run", "workflows"),
        ("/api/executions/e1/cancel", "executions"),
        ("/api/workflows/a", "workflows"),
        ("/api/workflows/a/b/public-schema", "workflows.public-schema"),
        ("/api", "other"),
        ("/", "other"),
        ("/v2/models", "other"),
        ("/v2/models/a/run", "other"),
    ],
)
def test_unusual_paths_fall_into_sensible_buckets(path: str, bucket: str) -> None:
    assert bucket_for_path(path) == bucket


def test_seconds_until_reset_defaults_to_the_real_clock() -> None:
    limit = RateLimit(limit=5, remaining=0, reset=time.time() + 100)
    assert 95 < limit.seconds_until_reset() <= 100
    assert RateLimit(limit=5, remaining=0, reset=time.time() - 100).seconds_until_reset() == 0.0
