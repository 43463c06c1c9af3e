"""Shared pieces of the benchmarks: the raw-httpx baseline, statistics and Markdown output."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

KEY = "knouds_live_benchmark0000000000"
MODEL = "gpt-image-2"
INPUTS = {"prompt": "a red fox in the snow", "aspect_ratio": "1:1"}


class RawResult(BaseModel):
    """What hand-written code validates a run body into: the same fields as ``RunResult``."""

    model_config = ConfigDict(extra="allow")

    success: bool = True
    result: Any = None
    cost: int | float | None = None
    ms: int | float | None = None


def raw_headers() -> dict[str, str]:
    """The headers knouds sends on a run, for the raw baseline to send too."""
    import knouds._core.settings as config

    return {
        "user-agent": config.USER_AGENT,
        "accept": "application/json",
        "x-api-key": KEY,
        "content-type": "application/json",
    }


def raw_parse(response: httpx.Response) -> RawResult:
    """Status check, JSON decode and pydantic validation, as hand-written code does them."""
    if response.status_code != 200:
        raise RuntimeError(f"unexpected status {response.status_code}")
    return RawResult.model_validate(json.loads(response.content))


def raw_body() -> bytes:
    """The request body, encoded per call as hand-written code does."""
    return json.dumps({"inputs": INPUTS}).encode()


def run_url(base_url: str) -> str:
    """The run endpoint's URL."""
    return f"{base_url}/api/models/{MODEL}/run"


def median(values: Sequence[float]) -> float:
    """The median (benchmarks on a shared 2-core machine are noisy: medians, not means)."""
    return statistics.median(values)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
