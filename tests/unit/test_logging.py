"""``KNOUDS_LOG`` and ``knouds -v``: the knouds logger to stderr, records carrying the facts of the
call as ``extra`` fields, never the key."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds._logs import _Handler, configure_logging
from tests.conftest import FakeTime, resolve, script

ROOT = Path(__file__).resolve().parents[2]
KEY = "kn_live_CANARYl0gs0123456789abcdefXYZ"
OK = {"success": True, "result": None, "cost": 4, "ms": 5}
EXECUTION = {"executionId": "exec-1", "status": "processing"}


@pytest.fixture(autouse=True)
def _restore_logger() -> Iterator[None]:
    logger = logging.getLogger("knouds")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


async def test_records_of_a_retried_run_carry_its_facts_and_never_the_key(
    make_client: Any, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    limited = httpx.Response(
        429,
        json={"error": f"slow down {KEY}", "code": "RATE_LIMIT_EXCEEDED"},
        headers={"retry-after": "2"},
    )
    handler, _ = script(limited, httpx.Response(200, json=OK))
    client = make_client(handler, api_key=KEY, retry=knouds.RetryPolicy(jitter=False))
    caplog.set_level(logging.DEBUG, logger="knouds")

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    records = [r for r in caplog.records if r.name == "knouds"]
    retry = next(r for r in records if r.getMessage().startswith("Retrying"))
    assert retry.levelno == logging.INFO
    assert (
        retry.__dict__["knouds_model"],
        retry.__dict__["knouds_attempt"],
        retry.__dict__["knouds_status"],
        retry.__dict__["knouds_wait"],
    ) == (
        "gpt-image-2",
        1,
        429,
        2.0,
    )
    assert retry.__dict__["knouds_retry_reason"] == "rate_limited"
    sent = [r for r in records if r.getMessage().startswith("POST")]
    assert [(r.__dict__["knouds_attempt"], r.__dict__["knouds_status"]) for r in sent] == [
        (1, 429),
        (2, 200),
    ]
    assert sent[0].__dict__["knouds_operation"] == "generate_content"
    assert all(KEY not in r.getMessage() and KEY not in str(r.__dict__) for r in records)


FACTS = {
    "knouds_operation",
    "knouds_model",
    "knouds_method",
    "knouds_path",
    "knouds_attempt",
    "knouds_status",
    "knouds_wait",
}


@pytest.mark.parametrize(
    ("call", "operation", "answer"),
    [
        (lambda c: c.models.run("gpt-image-2", {"prompt": "x"}), "generate_content", OK),
        (lambda c: c.models.submit("gpt-image-2", {"prompt": "x"}), "submit", EXECUTION),
        (lambda c: c.workflows.submit("my-flow", {"prompt": "x"}), "submit", EXECUTION),
    ],
    ids=["run", "model submission", "workflow submission"],
)
async def test_every_record_of_a_call_names_its_operation_as_its_span_does(
    make_client: Any,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
    call: Any,
    operation: str,
    answer: dict[str, Any],
) -> None:
    limited = httpx.Response(
        429, json={"code": "RATE_LIMIT_EXCEEDED"}, headers={"retry-after": "1"}
    )
    handler, _ = script(limited, httpx.Response(200, json=answer))
    client = make_client(handler, retry=knouds.RetryPolicy(jitter=False))
    caplog.set_level(logging.DEBUG, logger="knouds")

    await resolve(call(client))

    about_the_call = [
        r for r in caplog.records if r.name == "knouds" and "knouds_path" in r.__dict__
    ]
    assert [r.getMessage().split(" ")[0] for r in about_the_call] == ["POST", "Retrying", "POST"]
    for record in about_the_call:
        assert record.__dict__.keys() >= FACTS
        assert record.__dict__["knouds_operation"] == operation
        assert record.__dict__["knouds_model"] == record.__dict__["knouds_path"].split("/")[3]


def test_configure_logging_adds_one_stderr_handler_at_the_level() -> None:
    configure_logging("info")
    configure_logging("debug")
    logger = logging.getLogger("knouds")
    ours = [h for h in logger.handlers if isinstance(h, _Handler)]
    assert len(ours) == 1
    assert logger.level == logging.DEBUG
    configure_logging("nonsense")  # ignored
    assert logger.level == logging.DEBUG


def test_knouds_log_sends_the_records_to_stderr() -> None:
    code = f"""
import httpx, knouds
def handler(request):
    return httpx.Response(200, json={OK!r})
client = knouds.Client({KEY!r}, base_url="https://knouds.test",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
client.models.run("gpt-image-2", {{}})
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(), "KNOUDS_LOG": "debug"},
    )
    assert result.returncode == 0, result.stderr
    assert "POST /api/models/gpt-image-2/run -> 200 (attempt 1)" in result.stderr
    assert "DEBUG knouds" in result.stderr
    assert KEY not in result.stderr


def test_knouds_dash_vv_logs_every_request(capsys: pytest.CaptureFixture[str]) -> None:
    from knouds._cli.main import main
    from knouds.testing import Emulator

    with Emulator() as emulator:
        status = main(
            ["-vv", "--api-key", emulator.api_key, "--base-url", emulator.base_url, "whoami"]
        )
    assert status == 0
    assert logging.getLogger("knouds").level == logging.DEBUG
    err = capsys.readouterr().err
    assert "GET /api/whoami -> 200 (attempt 1)" in err
    assert emulator.api_key not in err


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "KNOUDS_LOG"}
