"""Every exit goes through the run pipeline: whatever ends a journaled, budgeted run at whichever
step (a non-knouds exception, a test's ``AssertionError``, ``KeyboardInterrupt``, ``SystemExit``,
a cancellation), the journal holds no entry ``started``, the budget holds nothing, and the
journal, the budget and the usage tell the same story about whether the run was sent.

Each case plants the exit right after the step's real work (the claim, the hold, the settling
and the record are written, then interrupted: the dangerous moment) or in place of it (the
pacing wait, the send, the shared store's round trip handing the slot back after the answer).
Both clients, a real SQLite journal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.pacing import StoreCall
from knouds._stores.budget import MemoryBudgetStore
from tests.conftest import API_KEY, BASE_URL, FakeTime, rate_headers, resolve

MODEL = "gpt-image-2"
PRICE = 5.0
STEPS = ["claim", "hold", "pace", "send", "release", "settle", "record"]
EXITS: dict[str, Callable[[], BaseException]] = {
    "error": lambda: RuntimeError("planted failure"),
    "assertion": lambda: AssertionError("route not mocked"),
    "interrupt": KeyboardInterrupt,
    "exit": lambda: SystemExit(3),
}
# The state the planted run's journal entry ends in, by the step it was stopped at: before its
# request could leave, it was not sent (sent again by the next run of its key); cut off while
# being sent over a transport that reports no progress, its outcome is unknown; once answered,
# its result is kept, whatever interrupts the bookkeeping after.
ENDS = {
    "claim": "rejected",
    "hold": "rejected",
    "pace": "rejected",
    "send": "unknown",
    "release": "completed",
    "settle": "completed",
    "record": "completed",
}


def _result(headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"success": True, "result": {"images": ["https://cdn.test/a.png"]}, "cost": PRICE}
    return httpx.Response(200, json=body, headers=headers)


class Plant:
    """Where a run is stopped; ``fire()`` raises the planted exit once, or (``make=None``)
    cancels the task running the call."""

    def __init__(self, step: str, make: Callable[[], BaseException] | None) -> None:
        self.step = step
        self.make = make
        self.armed = False  # after the priming run
        self.fired = False
        self.task: asyncio.Future[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def fire(self, *, in_thread: bool = False) -> None:
        if not self.armed or self.fired:
            return
        self.fired = True
        if self.make is not None:
            raise self.make()
        assert self.task is not None
        assert self.loop is not None
        if in_thread:  # cancel while the write is still under way in its worker thread
            self.loop.call_soon_threadsafe(self.task.cancel)
            time.sleep(0.05)
        else:
            self.task.cancel()


class PlantRunner:
    """A store's script runner whose round trip is where the run is stopped."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant

    def run(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object:
        self.plant.fire()
        return None

    async def arun(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object:
        self.plant.fire()
        await asyncio.sleep(0)  # where a cancellation lands
        return None


class PlantedPacing:
    """The client's pacing, with a round trip to a (planted) shared store when a slot is handed
    back after the answer, as a Redis store makes."""

    def __init__(self, inner: Any, plant: Plant) -> None:
        self.inner = inner
        self.pacer = inner.pacer
        self.runner = PlantRunner(plant)

    def acquire(self, bucket: str, *, pace: bool) -> Any:
        return self.inner.acquire(bucket, pace=pace)

    def release(self, ticket: Any, rate_limit: Any) -> Generator[StoreCall, object, None]:
        yield StoreCall(self.runner, "release", (), ())
        yield from self.inner.release(ticket, rate_limit)

    def abandon(self, ticket: Any) -> None:
        self.inner.abandon(ticket)

    def snapshot(self) -> Any:
        return self.inner.snapshot()


class ThreadedStore(MemoryBudgetStore):
    """A budget store the async client reaches from a worker thread, as it does Redis."""

    blocking = True


def _after(obj: Any, name: str, plant: Plant, *, in_thread: bool) -> None:
    """Make ``obj.name`` do its real work, then stop the run."""
    real = getattr(obj, name)

    def planted(*args: Any, **kwargs: Any) -> Any:
        value = real(*args, **kwargs)
        plant.fire(in_thread=in_thread)
        return value

    setattr(obj, name, planted)


def _client(
    kind: str, tmp_path: Path, plant: Plant, fake_time: FakeTime, *, threaded_budget: bool = False
) -> tuple[Any, knouds.Budget]:
    """A journaled, budgeted client whose first run leaves the rate-limit window spent (so the
    next one paces), with the plant wired into its transport, sleep, journal and budget."""
    answered = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        answered["count"] += 1
        if answered["count"] == 1:
            return _result(rate_headers(1, 0, fake_time.now + 30))
        if plant.step == "send":
            plant.fire()
        return _result()

    async def ahandler(request: httpx.Request) -> httpx.Response:
        if plant.step == "send" and plant.armed and plant.make is None:
            plant.fire()
            await asyncio.sleep(0)
        return handler(request)

    def sleep(seconds: float) -> None:
        if plant.step == "pace":
            plant.fire()
        fake_time.sleep(seconds)

    async def asleep(seconds: float) -> None:
        sleep(seconds)
        await asyncio.sleep(0)

    budget = knouds.Budget(100, prices={MODEL: PRICE}, clock=fake_time.time)
    if threaded_budget:
        budget._store = ThreadedStore()
    options: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": BASE_URL,
        "clock": fake_time.time,
        "journal": str(tmp_path / "runs.sqlite"),
        "budget": budget,
    }
    if kind == "sync":
        client: Any = knouds.Client(
            sleep=sleep, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **options
        )
    else:
        transport = httpx.MockTransport(ahandler)
        client = knouds.AsyncClient(
            sleep=asleep, http_client=httpx.AsyncClient(transport=transport), **options
        )
    return client, budget


def _plant(client: Any, budget: knouds.Budget, plant: Plant) -> None:
    journal = client.journal
    if plant.step == "release":
        client._pacing = PlantedPacing(client._pacing, plant)
    if plant.step in ("claim", "record"):
        _after(journal, plant.step, plant, in_thread=True)
    elif plant.step == "hold":
        _after(budget._store, "hold", plant, in_thread=budget._store.blocking)
    elif plant.step == "settle":
        _after(budget._store, "settle", plant, in_thread=budget._store.blocking)
    plant.armed = True


def _agreement(client: Any, budget: knouds.Budget) -> str:
    """Check that the journal, the budget and the usage agree; the planted run's entry state."""
    entries: dict[str, str] = {entry.key: entry.state for entry in client.journal.entries()}
    assert "started" not in entries.values()
    assert budget.held == 0
    line = client.usage.by_model[MODEL]
    state = entries.get("order-1", "none")
    if state in ("none", "rejected"):  # not sent: only the priming run counts
        assert (budget.spent, line.runs, line.unconfirmed_runs) == (PRICE, 1, 0)
    elif state == "unknown":  # may have run: its expected cost, unconfirmed
        assert (budget.spent, line.runs, line.unconfirmed_runs) == (2 * PRICE, 1, 1)
    else:
        assert state == "completed"
        assert (budget.spent, line.runs, line.unconfirmed_runs) == (2 * PRICE, 2, 0)
    return state


async def _close(client: Any) -> None:
    await resolve(client.close())
    await resolve(client._http.aclose() if isinstance(client, knouds.AsyncClient) else None)


@pytest.mark.parametrize("exit_kind", sorted(EXITS))
@pytest.mark.parametrize("step", STEPS)
async def test_an_exit_at_any_step_leaves_nothing_started_or_held(
    client_kind: str, tmp_path: Path, fake_time: FakeTime, step: str, exit_kind: str
) -> None:
    plant = Plant(step, EXITS[exit_kind])
    client, budget = _client(client_kind, tmp_path, plant, fake_time)
    try:
        await resolve(client.models.run(MODEL, {"prompt": "prime"}))
        _plant(client, budget, plant)
        with pytest.raises((type(EXITS[exit_kind]()), knouds.APIConnectionError)):
            await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1"))
        assert plant.fired

        assert _agreement(client, budget) == ENDS[step]
        # What the journal says holds: a run not sent is sent again, a kept result is returned.
        if ENDS[step] != "unknown":
            again = await resolve(
                client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1")
            )
            assert again.from_journal == (ENDS[step] == "completed")
    finally:
        await _close(client)


@pytest.mark.parametrize("step", STEPS)
async def test_a_cancellation_at_any_step_leaves_nothing_started_or_held(
    tmp_path: Path, fake_time: FakeTime, step: str
) -> None:
    plant = Plant(step, None)
    plant.loop = asyncio.get_running_loop()
    # The budget is reached from a worker thread (as Redis is): a hold or a settling under way
    # when the cancellation comes lands first.
    client, budget = _client("async", tmp_path, plant, fake_time, threaded_budget=True)
    try:
        await client.models.run(MODEL, {"prompt": "prime"})
        _plant(client, budget, plant)
        task = asyncio.ensure_future(
            client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1")
        )
        plant.task = task
        with pytest.raises(asyncio.CancelledError):
            await task
        assert plant.fired

        assert _agreement(client, budget) == ENDS[step]
    finally:
        await _close(client)


async def test_a_client_closed_while_its_run_is_in_flight_keeps_the_run_unknown(
    make_client: Callable[..., Any], tmp_path: Path
) -> None:
    """Closed while the request is out, the run may have reached Knouds: the error never says
    nothing was sent, and the journal keeps the run unknown instead of free to send again."""
    sends: list[httpx.Request] = []
    clients: list[Any] = []

    def handler(request: httpx.Request) -> Any:
        sends.append(request)
        closing = clients[0].close()
        if closing is None:
            raise httpx.ReadError("connection reset", request=request)

        async def close_then_break() -> httpx.Response:
            await closing
            raise httpx.ReadError("connection reset", request=request)

        return close_then_break()

    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    clients.append(client)
    with pytest.raises(knouds.APIConnectionError) as caught:
        await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1"))

    assert caught.value.sent is True
    assert "closed while the request was in flight" in str(caught.value)
    assert "nothing was sent" not in str(caught.value)
    assert client.journal.get("order-1").state == "unknown"
    assert len(sends) == 1
