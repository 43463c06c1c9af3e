"""A bounded soak: many calls at once, from asyncio tasks and threads, against a faulty emulator.

One :func:`soak` drives a shared ``AsyncClient`` from many tasks and a shared ``Client`` from many
threads at the same time, over real sockets, while the emulator injects faults into a fraction of
the requests. Every call gets a unique prompt, so the emulator's log tells how often each input was
actually executed. The :class:`Report` collects what every call ended in.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import knouds
from knouds.testing import Emulator, Fault, LoggedRequest

# Each attempt may wait this long for an answer; the injected delay is well past it, so a delayed
# request always times out on the client after the emulator has executed the run.
CLIENT_TIMEOUT = 0.3
FAULT_DELAY = 3 * CLIENT_TIMEOUT
RATE_LIMIT_WAIT = 0.05

FAULTS: dict[str, Fault] = {
    "drop": Fault.drop(),
    "html:502": Fault.html(502),
    "truncated_json:200": Fault.truncated_json(),
    "invalid_json:200": Fault.invalid_json(),
    "delay": Fault.delay(FAULT_DELAY),
    "rate_limited": Fault.rate_limited(retry_after=RATE_LIMIT_WAIT),
}
"""The injected faults, keyed by the name the emulator's log gives them."""

# Faults after which the client cannot know whether the run happened.
UNKNOWN_OUTCOME_FAULTS = frozenset({"drop", "html:502", "truncated_json:200", "invalid_json:200"})
# The only injected fault after which the emulator has executed the run (then held the answer).
EXECUTING_FAULTS = frozenset({"delay"})

KINDS = ("model", "model", "model", "model", "workflow", "workflow", "workflow", "get", "get")
"""The mix of calls: model runs, workflow runs, execution polls; every 25th call is a submit."""


def inject_faults(emu: Emulator, total_rate: float) -> None:
    """Apply every fault in :data:`FAULTS` to an equal share of ``total_rate`` of API requests."""
    share = total_rate / len(FAULTS)
    for fault in FAULTS.values():
        emu.inject(fault, rate=share, path="/api/")


@dataclass(frozen=True)
class Op:
    """One call of the soak."""

    kind: str
    prompt: str
    execution_id: str = ""


def plan(tag: str, count: int, execution_ids: list[str]) -> list[Op]:
    """``count`` calls mixing the kinds of :data:`KINDS`, each with its own prompt."""
    ops = []
    for i in range(count):
        kind = "submit" if i % 25 == 24 else KINDS[i % len(KINDS)]
        ops.append(Op(kind, f"{tag}-{i}", execution_ids[i % len(execution_ids)]))
    return ops


def start_call(client: Any, op: Op, retry: knouds.RetryPolicy) -> Any:
    """Start ``op`` on either client: the value for ``Client``, an awaitable for ``AsyncClient``."""
    inputs = {"prompt": op.prompt}
    if op.kind == "model":
        return client.models.run("gpt-5-mini", inputs, retry=retry)
    if op.kind == "workflow":
        return client.workflows.run("playground-demo", inputs, retry=retry)
    if op.kind == "submit":
        return client.models.submit("suno-v5", inputs, retry=retry)
    return client.executions.get(op.execution_id)


def well_formed(op: Op, value: object) -> bool:
    """Whether a call's value is what its method promises."""
    if op.kind in ("model", "workflow"):
        return isinstance(value, knouds.RunResult) and bool(value.text)
    return isinstance(value, knouds.Execution) and bool(value.id)


@dataclass
class Report:
    """What the calls of one soak ended in, and what the emulator saw."""

    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    succeeded: set[str] = field(default_factory=set)  # prompts of runs that returned a result
    retries: defaultdict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    seconds: float = 0.0
    log: list[LoggedRequest] = field(default_factory=list)
    storm_at: int = 0
    storm: Callable[[], None] = field(default=lambda: None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, prompt: str) -> Callable[[knouds.RetryEvent], None]:
        """An ``on_retry`` hook remembering why ``prompt``'s call retried: the reason and the
        failed attempt's error class."""

        def on_retry(event: knouds.RetryEvent) -> None:
            with self.lock:
                self.retries[prompt].append((event.reason, type(event.error).__name__))

        return on_retry

    def settle(self, op: Op, value: object, error: BaseException | None) -> None:
        """Record how one call ended."""
        with self.lock:
            self.calls += 1
            if self.calls == self.storm_at:
                self.storm()
            if error is None:
                if well_formed(op, value):
                    self.outcomes["ok"] += 1
                    if op.kind != "get":
                        self.succeeded.add(op.prompt)
                else:
                    self.unexpected.append(f"{op}: malformed value {value!r}")
            elif isinstance(error, knouds.KnoudsError):
                self.outcomes[type(error).__name__] += 1
            else:
                trace = "".join(traceback.format_exception(error))
                self.unexpected.append(f"{op}: {type(error).__name__} escaped\n{trace}")

    def faults(self) -> Counter[str]:
        """Requests per injected fault, from the emulator's log."""
        return Counter(entry.fault for entry in self.log if entry.fault is not None)

    def attempts(self) -> dict[str, list[LoggedRequest]]:
        """Every logged run request per prompt, in arrival order."""
        found: dict[str, list[LoggedRequest]] = defaultdict(list)
        for entry in self.log:
            body = entry.body
            if isinstance(body, dict) and isinstance(body.get("inputs"), dict):
                found[str(body["inputs"].get("prompt"))].append(entry)
        return found

    def executions(self) -> Counter[str]:
        """How many times the emulator executed each prompt."""
        return Counter(
            {
                prompt: sum(entry.run is not None for entry in entries)
                for prompt, entries in self.attempts().items()
            }
        )

    def summary(self, title: str) -> str:
        """A few lines for the test output."""
        executed = self.executions()
        duplicated = sum(1 for count in executed.values() if count > 1)
        return (
            f"{title}: {self.calls} calls in {self.seconds:.1f} s, {len(self.log)} requests, "
            f"{sum(executed.values())} runs executed for {len(executed)} inputs "
            f"({duplicated} executed more than once)\n"
            f"  faults injected: {dict(sorted(self.faults().items()))}\n"
            f"  outcomes: {dict(sorted(self.outcomes.items()))}"
        )


async def soak(
    emu: Emulator,
    *,
    tag: str,
    async_calls: int,
    sync_calls: int,
    tasks: int,
    threads: int,
    policy: knouds.RetryPolicy,
    fault_rate: float,
    storm: int,
    hang_limit: float,
) -> Report:
    """Run ``async_calls`` on an ``AsyncClient`` from ``tasks`` tasks and, at the same time,
    ``sync_calls`` on a ``Client`` from ``threads`` threads, with ``fault_rate`` of the requests
    faulted and, once a third of the calls has settled, a storm of ``storm`` consecutive 429s.
    Fails the calling test if anything is still running after ``hang_limit`` seconds."""
    report = Report(storm_at=(async_calls + sync_calls) // 3)
    report.storm = lambda: emu.inject(Fault.rate_limited(RATE_LIMIT_WAIT), times=storm)
    options: dict[str, Any] = {
        "api_key": emu.api_key,
        "base_url": emu.base_url,
        "timeout": CLIENT_TIMEOUT,
        "retry": policy,
    }
    sync_client = knouds.Client(**options)
    async_client = knouds.AsyncClient(**options)
    try:
        # Executions to poll, submitted before any fault is armed.
        seeds = [
            sync_client.models.submit("suno-v5", {"prompt": f"{tag}-seed-{i}"}) for i in range(4)
        ]
        ids = [execution.id for execution in seeds]
        inject_faults(emu, fault_rate)
        sync_ops = plan(f"{tag}-sync", sync_calls, ids)
        async_ops = plan(f"{tag}-async", async_calls, ids)
        started = time.monotonic()

        def thread_worker(index: int) -> None:
            for op in sync_ops[index::threads]:
                retry = _with_hook(policy, report.hook(op.prompt))
                try:
                    value = start_call(sync_client, op, retry)
                except Exception as error:
                    report.settle(op, None, error)
                else:
                    report.settle(op, value, None)

        queue: asyncio.Queue[Op] = asyncio.Queue()
        for op in async_ops:
            queue.put_nowait(op)

        async def task_worker() -> None:
            while not queue.empty():
                op = queue.get_nowait()
                retry = _with_hook(policy, report.hook(op.prompt))
                try:
                    value = await start_call(async_client, op, retry)
                except Exception as error:
                    report.settle(op, None, error)
                else:
                    report.settle(op, value, None)

        workers = [
            threading.Thread(target=thread_worker, args=(i,), daemon=True) for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(task_worker() for _ in range(tasks))), timeout=hang_limit
            )
        except asyncio.TimeoutError:
            raise AssertionError(
                f"async calls still running after {hang_limit} s: {queue.qsize()} not started, "
                f"{report.calls} settled"
            ) from None
        deadline = started + hang_limit
        for worker in workers:
            await asyncio.to_thread(worker.join, max(deadline - time.monotonic(), 0.1))
        stuck = [worker.name for worker in workers if worker.is_alive()]
        assert not stuck, f"threads still running after {hang_limit} s: {stuck}"
        report.seconds = time.monotonic() - started
    finally:
        emu.clear_faults()
        sync_client.close()
        await async_client.aclose()
    report.log = emu.log
    return report


def _with_hook(
    policy: knouds.RetryPolicy, hook: Callable[[knouds.RetryEvent], None]
) -> knouds.RetryPolicy:
    return replace(policy, on_retry=hook)


__all__ = [
    "CLIENT_TIMEOUT",
    "EXECUTING_FAULTS",
    "FAULTS",
    "UNKNOWN_OUTCOME_FAULTS",
    "Op",
    "Report",
    "soak",
]
