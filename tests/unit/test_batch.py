"""``models.run_many`` / ``workflows.run_many``: order, error slots, concurrency, progress."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import json_response, resolve


class SlowTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serves both clients; each request waits a few milliseconds chosen per input.

    Records how many requests were in flight at once, and in which order they finished.
    """

    def __init__(
        self,
        delay: Callable[[int], float] = lambda i: 0.005,
        respond: Callable[[int], httpx.Response] | None = None,
        hold_until: int = 0,
    ) -> None:
        self.delay = delay
        self.respond = respond or (lambda i: json_response(200, ok_body(i)))
        self.hold_until = hold_until  # wait (briefly) until this many are in flight at once
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[int] = []
        self.finished: list[int] = []

    def _enter(self, request: httpx.Request) -> int:
        index = int(json.loads(request.content)["inputs"]["i"])
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.started.append(index)
        return index

    def _exit(self, index: int) -> httpx.Response:
        with self.lock:
            self.in_flight -= 1
            self.finished.append(index)
        return self.respond(index)

    def _full(self) -> bool:
        with self.lock:
            return self.in_flight >= self.hold_until

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = self._enter(request)
        deadline = time.monotonic() + 0.05
        while not self._full() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(self.delay(index))
        return self._exit(index)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._enter(request)
        deadline = time.monotonic() + 0.05
        while not self._full() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        await asyncio.sleep(self.delay(index))
        return self._exit(index)


def ok_body(i: int) -> dict[str, Any]:
    return {"success": True, "result": {"text": f"out-{i}"}, "cost": 1, "ms": 5}


def inputs(n: int) -> list[dict[str, int]]:
    return [{"i": i} for i in range(n)]


async def test_results_keep_input_order_when_runs_finish_out_of_order(
    make_client: Callable[..., Any],
) -> None:
    transport = SlowTransport(delay=lambda i: 0.002 * (12 - i))
    client = make_client(transport)

    results = await resolve(client.models.run_many("gpt-image-2", inputs(12), concurrency=6))

    assert [r.text for r in results] == [f"out-{i}" for i in range(12)]
    assert transport.finished != sorted(transport.finished)  # completion order really differed
    assert sorted(transport.started) == list(range(12))  # each input sent exactly once


async def test_workflows_run_many_keeps_order(make_client: Callable[..., Any]) -> None:
    transport = SlowTransport(delay=lambda i: 0.002 * (6 - i))
    client = make_client(transport)

    results = await resolve(
        client.workflows.run_many("my-thumbnail-pipeline", inputs(6), concurrency=3)
    )

    assert [r.text for r in results] == [f"out-{i}" for i in range(6)]


async def test_failed_inputs_hold_their_error_in_their_slot(
    make_client: Callable[..., Any],
) -> None:
    def respond(i: int) -> httpx.Response:
        if i % 3 == 1:
            return json_response(
                402, {"error": "Not enough credits", "code": "INSUFFICIENT_CREDITS"}
            )
        return json_response(200, ok_body(i))

    client = make_client(SlowTransport(respond=respond))

    results = await resolve(client.models.run_many("gpt-image-2", inputs(7), concurrency=3))

    assert len(results) == 7
    for i, slot in enumerate(results):
        if i % 3 == 1:
            assert isinstance(slot, knouds.InsufficientCreditsError)
            assert slot.status_code == 402
        else:
            assert isinstance(slot, knouds.RunResult)
            assert slot.text == f"out-{i}"


async def test_bad_inputs_fail_their_slot_without_being_sent(
    make_client: Callable[..., Any],
) -> None:
    transport = SlowTransport()
    client = make_client(transport)

    results = await resolve(
        client.models.run_many("gpt-image-2", [{"i": 0}, ["not", "a", "mapping"], {"i": 2}])
    )

    assert isinstance(results[0], knouds.RunResult)
    assert isinstance(results[1], knouds.InvalidInputsError)
    assert results[1].status_code is None
    assert isinstance(results[2], knouds.RunResult)
    assert sorted(transport.started) == [0, 2]


async def test_return_exceptions_false_raises_first_error_after_in_flight_runs_finish(
    make_client: Callable[..., Any],
) -> None:
    def respond(i: int) -> httpx.Response:
        if i == 0:
            return json_response(402, {"error": "Trial used up", "code": "grant_exhausted"})
        return json_response(200, ok_body(i))

    # Input 0 fails as soon as three runs are in flight; inputs 1 and 2 are still running.
    transport = SlowTransport(
        delay=lambda i: 0.0 if i == 0 else 0.03, respond=respond, hold_until=3
    )
    client = make_client(transport)

    with pytest.raises(knouds.GrantExhaustedError):
        await resolve(
            client.models.run_many(
                "gpt-image-2", inputs(10), concurrency=3, return_exceptions=False
            )
        )

    assert sorted(transport.started) == [0, 1, 2]  # nothing started after the failure
    assert sorted(transport.finished) == [0, 1, 2]  # the runs in flight were left to finish


async def test_concurrency_bound_is_respected(make_client: Callable[..., Any]) -> None:
    transport = SlowTransport(delay=lambda i: 0.002, hold_until=4)
    client = make_client(transport)

    results = await resolve(client.models.run_many("gpt-image-2", inputs(16), concurrency=4))

    assert len(results) == 16
    assert transport.max_in_flight == 4


async def test_concurrency_one_runs_in_order(make_client: Callable[..., Any]) -> None:
    transport = SlowTransport()
    client = make_client(transport)

    await resolve(client.models.run_many("gpt-image-2", inputs(5), concurrency=1))

    assert transport.max_in_flight == 1
    assert transport.started == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("resource", ["models", "workflows"])
async def test_bad_name_raises_before_anything_is_sent(
    make_client: Callable[..., Any], resource: str
) -> None:
    transport = SlowTransport()
    client = make_client(transport)

    with pytest.raises(knouds.InvalidSlugError) as caught:
        await resolve(getattr(client, resource).run_many("Bad Name!", inputs(3)))

    assert caught.value.status_code is None
    assert transport.started == []


@pytest.mark.parametrize("concurrency", [0, -1, True, 2.5])
async def test_concurrency_must_be_a_positive_integer(
    make_client: Callable[..., Any], concurrency: Any
) -> None:
    transport = SlowTransport()
    client = make_client(transport)

    with pytest.raises(ValueError, match="concurrency"):
        await resolve(client.models.run_many("gpt-image-2", inputs(2), concurrency=concurrency))

    assert transport.started == []


async def test_empty_batch_sends_nothing(make_client: Callable[..., Any]) -> None:
    transport = SlowTransport()
    client = make_client(transport)

    assert await resolve(client.models.run_many("gpt-image-2", [])) == []
    assert transport.started == []


async def test_progress_callback_counts_every_input(make_client: Callable[..., Any]) -> None:
    def respond(i: int) -> httpx.Response:
        if i == 2:
            return json_response(404, {"error": "No such model", "code": "MODEL_NOT_FOUND"})
        return json_response(200, ok_body(i))

    client = make_client(SlowTransport(delay=lambda i: 0.001 * (5 - i), respond=respond))
    calls: list[tuple[int, int, object]] = []

    results = await resolve(
        client.models.run_many(
            "gpt-image-2",
            inputs(5),
            concurrency=2,
            progress=lambda done, total, item: calls.append((done, total, item)),
        )
    )

    assert [done for done, _, _ in calls] == [1, 2, 3, 4, 5]
    assert {total for _, total, _ in calls} == {5}
    assert {id(item) for _, _, item in calls} == {id(r) for r in results}
    assert sum(isinstance(item, knouds.ModelNotFoundError) for _, _, item in calls) == 1


async def test_progress_true_draws_a_tqdm_bar(
    make_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    client = make_client(SlowTransport())

    results = await resolve(client.models.run_many("gpt-image-2", inputs(3), progress=True))

    assert len(results) == 3
    err = capsys.readouterr().err
    assert "gpt-image-2" in err
    assert "3/3" in err


async def test_progress_true_without_tqdm_runs_without_a_bar(
    make_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A ``None`` entry in sys.modules makes ``import tqdm.auto`` raise ImportError.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    client = make_client(SlowTransport())

    results = await resolve(client.models.run_many("gpt-image-2", inputs(3), progress=True))

    assert [r.text for r in results] == ["out-0", "out-1", "out-2"]
    assert capsys.readouterr().err == ""


async def test_an_unexpected_exception_stays_in_its_slot_and_keeps_the_others(
    make_client: Callable[..., Any],
) -> None:
    def respond(i: int) -> httpx.Response:
        if i == 1:
            raise RuntimeError("handler bug")
        return json_response(200, ok_body(i))

    transport = SlowTransport(respond=respond)
    client = make_client(transport)

    results = await resolve(client.models.run_many("gpt-image-2", inputs(6), concurrency=2))

    assert isinstance(results[1], knouds.KnoudsError)
    assert "handler bug" in str(results[1])
    assert [r.text for i, r in enumerate(results) if i != 1] == [
        f"out-{i}" for i in range(6) if i != 1
    ]


async def test_a_non_knouds_exception_of_one_input_keeps_the_paid_results(
    client_kind: str,
) -> None:
    from knouds._async.batch import run_batch_async
    from knouds._sync.batch import run_batch

    def outcome(inputs: Any) -> knouds.RunResult:
        if inputs["i"] == 2:
            raise LookupError("a bug outside the SDK")
        return knouds.RunResult(result={"text": f"out-{inputs['i']}"})

    async def aoutcome(inputs: Any) -> knouds.RunResult:
        await asyncio.sleep(0)
        return outcome(inputs)

    options: dict[str, Any] = {"concurrency": 2, "return_exceptions": True, "progress": None}
    if client_kind == "sync":
        results = run_batch(outcome, inputs(5), **options)
    else:
        results = await run_batch_async(aoutcome, inputs(5), **options)

    assert isinstance(results[2], knouds.KnoudsError)
    assert isinstance(results[2].__cause__, LookupError)
    texts = [r.text for r in results if isinstance(r, knouds.RunResult)]
    assert texts == ["out-0", "out-1", "out-3", "out-4"]


def test_sync_and_async_run_many_take_the_same_parameters() -> None:
    from knouds.resources.models import AsyncModels, Models
    from knouds.resources.workflows import AsyncWorkflows, Workflows

    for sync, asynchronous in ((Models, AsyncModels), (Workflows, AsyncWorkflows)):
        sync_sig = inspect.signature(sync.run_many)
        async_sig = inspect.signature(asynchronous.run_many)
        assert list(sync_sig.parameters) == list(async_sig.parameters)
        assert sync_sig.parameters["concurrency"].default == 8
        assert sync_sig.parameters["return_exceptions"].default is True
        assert inspect.iscoroutinefunction(asynchronous.run_many)
