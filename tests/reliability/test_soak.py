"""Soak: thousands of calls from tasks and threads at once, with a tenth of requests faulted.

Every call must end in a result or a :class:`knouds.KnoudsError`, nothing may hang, and the
emulator's log must show that no input was executed twice unless the retry policy allowed it:
never with the default policy, and with ``retry_unknown_outcome=True`` only after an attempt whose
outcome the client could not know.
"""

from __future__ import annotations

from collections.abc import Callable

import knouds
from knouds.testing import Emulator

from ._soak import EXECUTING_FAULTS, FAULTS, Report, soak

# A tight per-key window, so pacing and the emulator's own 429s are part of the soak too.
RATE_LIMIT = 15
WINDOW = 0.1
MAX_ATTEMPTS = knouds.RetryPolicy().max_retries + 1


def emulator() -> Emulator:
    return Emulator(rate_limit=RATE_LIMIT, window=WINDOW, credits=10**9, seed=7)


def publish(report: Report, title: str, record_property: Callable[[str, object], None]) -> None:
    summary = report.summary(title)
    print(summary)
    record_property("soak", summary)


def check_common(report: Report, calls: int) -> None:
    assert report.unexpected == [], "\n\n".join(report.unexpected[:5])
    assert report.calls == calls
    assert sum(report.outcomes.values()) == calls
    injected = report.faults()
    assert set(injected) == set(FAULTS), f"every kind of fault was injected: {injected}"
    # The emulator's own bookkeeping agrees with its log.
    assert sum(report.executions().values()) == sum(e.run is not None for e in report.log)
    for prompt, attempts in report.attempts().items():
        assert len(attempts) <= MAX_ATTEMPTS, f"{prompt} was sent {len(attempts)} times"


async def test_default_policy_never_executes_an_input_twice(
    record_property: Callable[[str, object], None],
) -> None:
    calls = 2000
    with emulator() as emu:
        report = await soak(
            emu,
            tag="default",
            async_calls=1200,
            sync_calls=800,
            tasks=24,
            threads=8,
            policy=knouds.RetryPolicy(),
            fault_rate=0.10,
            storm=40,
            hang_limit=90,
        )
        total_runs = emu.run_count()
    publish(report, "default policy", record_property)
    check_common(report, calls)
    executed = report.executions()
    assert total_runs == sum(executed.values())
    twice = {prompt: count for prompt, count in executed.items() if count > 1}
    assert twice == {}, f"inputs executed more than once under the default policy: {twice}"
    # A call that returned a result ran exactly once; runs are never retried for unknown outcomes.
    assert all(executed[prompt] == 1 for prompt in report.succeeded)
    reasons = {reason for events in report.retries.values() for reason, _ in events}
    assert reasons <= {"rate_limited", "not_sent"}, reasons
    # The faults surfaced as the errors they stand for, not as something else.
    assert report.outcomes["ok"] > calls * 0.8
    for expected in ("APIConnectionError", "APITimeoutError", "APIResponseValidationError"):
        assert report.outcomes[expected] > 0, expected


async def test_opt_in_retries_execute_twice_only_after_an_unknown_outcome(
    record_property: Callable[[str, object], None],
) -> None:
    calls = 600
    with emulator() as emu:
        report = await soak(
            emu,
            tag="opt-in",
            async_calls=360,
            sync_calls=240,
            tasks=16,
            threads=6,
            policy=knouds.RetryPolicy(retry_unknown_outcome=True),
            fault_rate=0.10,
            storm=20,
            hang_limit=60,
        )
    publish(report, "retry_unknown_outcome=True", record_property)
    check_common(report, calls)
    attempts = report.attempts()
    delayed = 0
    for prompt, count in report.executions().items():
        if count <= 1:
            continue
        # The only way a run executes and still fails on the client is an answer that never came
        # in time: each extra execution must follow a retry the policy allowed after a timeout.
        timeouts = report.retries[prompt].count(("unknown_outcome", "APITimeoutError"))
        assert count - 1 <= timeouts, (prompt, count, report.retries[prompt])
        executed = [entry for entry in attempts[prompt] if entry.run is not None]
        delayed += sum(entry.fault in EXECUTING_FAULTS for entry in executed[:-1])
    # The opt-in was exercised: delayed runs were executed, timed out, re-sent and executed again.
    assert delayed > 0
    assert report.outcomes["ok"] > calls * 0.9
