"""The API key never shows: not in logs at DEBUG (ours, httpx's, httpcore's), nor in the repr or
str of clients, copies, results, errors, rate limits and retry events, through a session full of
errors and retries over real sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator, Fault
from tests.conftest import ASYNC_TRANSPORT_ENV, resolve

LOGGERS = ("", "knouds", "httpx", "httpcore")


async def test_the_key_appears_nowhere(
    make_client: Callable[..., Any], client_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    events: list[knouds.RetryEvent] = []
    policy = knouds.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, on_retry=events.append)
    sleep = time.sleep if client_kind == "sync" else asyncio.sleep
    seen: list[object] = []  # everything a user could print

    async def outcome(call: Callable[[], Any]) -> object:
        try:
            value = await resolve(call())
        except knouds.KnoudsError as error:
            seen.extend([error, *error.args, "".join(traceback.format_exception(error))])
            return error
        seen.append(value)
        return value

    with Emulator(window=0.5, rate_limit=100) as emu:
        key, base_url = emu.api_key, emu.base_url
        client = make_client(
            None, api_key=key, base_url=emu.base_url, retry=policy, clock=time.time, sleep=sleep
        )
        run = client.models.run
        inputs = {"prompt": "a fox"}

        emu.inject(Fault.rate_limited(retry_after=0.05))  # 429, then success
        ok = await outcome(lambda: run("gpt-image-2", inputs))
        assert isinstance(ok, knouds.RunResult)
        seen.append(ok.rate_limit)

        emu.inject(Fault.status(401, message=f"Invalid API key {key}"))
        assert isinstance(
            await outcome(lambda: run("gpt-image-2", inputs)), knouds.AuthenticationError
        )

        emu.inject(Fault.status(500, "EXECUTION_FAILED", f"provider rejected {key}"))
        failed = await outcome(lambda: run("gpt-image-2", inputs))
        assert isinstance(failed, knouds.ExecutionFailedError)

        emu.inject(Fault.drop())
        assert isinstance(
            await outcome(lambda: run("gpt-image-2", inputs)), knouds.APIConnectionError
        )

        emu.inject(Fault.invalid_json())
        broken = await outcome(lambda: run("gpt-image-2", inputs))
        assert isinstance(broken, knouds.APIResponseValidationError)

        bad = await outcome(lambda: run("gpt-image-2", ["not", "a", "mapping"]))
        assert isinstance(bad, knouds.InvalidInputsError)

        job = await outcome(lambda: client.models.submit("suno-v5", inputs))
        assert isinstance(job, knouds.Execution)
        emu.inject(Fault.html(502), method="GET")  # a GET is retried after a proxy error
        polled = await outcome(lambda: client.executions.get(job.id))
        assert isinstance(polled, knouds.Execution)

        copy = client.with_options(timeout=5.0, max_retries=1)
        assert isinstance(
            await outcome(lambda: copy.models.run("gpt-5-mini", inputs)), knouds.RunResult
        )
        seen.extend([client, copy, client.rate_limits, copy.rate_limits])

    # Nothing listens any more: connection refused, retried, then given up.
    gone = make_client(
        None, api_key=key, base_url=base_url, retry=policy, clock=time.time, sleep=sleep
    )
    refused = await outcome(lambda: gone.models.run("gpt-image-2", inputs))
    assert isinstance(refused, knouds.APIConnectionError)
    seen.append(gone)

    assert {event.reason for event in events} >= {"rate_limited", "unknown_outcome", "not_sent"}
    for event in events:
        seen.extend([event, event.error, *event.error.args])

    leaks = [repr(item)[:200] for item in seen if key in repr(item) or key in str(item)]
    assert leaks == [], f"the API key shows in: {leaks}"
    logged = []
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        if key in text:
            logged.append(f"{record.name}: {record.getMessage()[:200]}")
    assert logged == [], f"the API key is logged by: {logged}"
    assert key not in caplog.text
    # The logs were really captured at DEBUG, from our logger and the HTTP stack (httpcore's
    # connection logs exist only on httpx's own transport).
    stack = {"knouds", "httpx"}
    if os.environ.get(ASYNC_TRANSPORT_ENV) != "aiohttp" or client_kind == "sync":
        stack.add("httpcore.http11")
    assert stack <= {record.name for record in caplog.records}
