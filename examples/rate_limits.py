"""See the rate limit, let the client pace a burst under it, log retries, and handle a 429.

Knouds allows each key a number of run requests per 60-second window (model runs and workflow
runs count separately) and reports the state in ``X-RateLimit-*`` headers. The client remembers
it and, when the window is used up, waits for the reset instead of collecting 429s.

    python examples/rate_limits.py

With KNOUDS_API_KEY set this calls Knouds itself (about 25 runs: it spends credits); without it,
it runs against the local Knouds emulator with a small limit (5 runs per half-second window) so
the pacing shows in a moment.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack

import knouds

MODEL = "gpt-image-2"
BURST = 12
PROMPTS = [{"prompt": f"a lighthouse at night, variation {n}"} for n in range(BURST)]
retries: list[knouds.RetryEvent] = []
print_lock = threading.Lock()  # run_many's worker threads call the hook concurrently


def log_retry(event: knouds.RetryEvent) -> None:
    """The ``on_retry`` hook: called before each retry's wait (the SDK also logs it at INFO on
    the ``knouds`` logger)."""
    with print_lock:
        retries.append(event)
        print(
            f"  retry: attempt {event.attempt} of {event.method} {event.path} got "
            f"{type(event.error).__name__} ({event.reason}); waiting {event.wait:.2f} s"
        )


def timed_burst(client: knouds.Client, label: str, window: float) -> None:
    """Run the burst ``concurrency`` at a time and say how long it took against the window."""
    retries_before, started = len(retries), time.monotonic()
    outcomes = client.models.run_many(MODEL, PROMPTS, concurrency=4)
    elapsed = time.monotonic() - started
    ok = sum(isinstance(outcome, knouds.RunResult) for outcome in outcomes)
    print(
        f"{label}: {ok}/{BURST} runs succeeded in {elapsed:.2f} s, {len(retries) - retries_before}"
        f" retries (the window is {window:g} s: the burst took {elapsed / window:.1f} windows)"
    )


def main() -> None:
    with ExitStack() as stack:
        window = 60.0  # seconds per rate-limit window on Knouds
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            window = 0.5
            emu = stack.enter_context(Emulator(rate_limit=5, window=window))
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        retry = knouds.RetryPolicy(max_retries=5, on_retry=log_retry)
        client = stack.enter_context(knouds.Client(retry=retry))  # pace=True is the default

        # 1. Every run reports the limit; the client keeps the latest state per bucket.
        result = client.models.run(MODEL, {"prompt": "a lighthouse at night"})
        limit = result.rate_limit
        if limit is None:
            print("this key reports no rate limit (an unlimited plan): nothing to pace")
            return
        print(
            f"result.rate_limit: {limit.remaining} of {limit.limit} left, the window resets "
            f"at {limit.reset_at:%H:%M:%S} UTC (in {limit.seconds_until_reset():.1f} s)"
        )
        for bucket, state in client.rate_limits.items():
            print(f"client.rate_limits[{bucket!r}]: {state.remaining}/{state.limit} left")

        # 2. A burst larger than the limit: with pacing, requests past the limit wait for the
        #    reset on the client side, so the server never answers 429 and nothing is retried.
        print(f"burst of {BURST} runs, paced, against a limit of {limit.limit} per window:")
        timed_burst(client, "paced", window)

        # 3. The same burst without pacing: the server answers 429 and the retries wait it out.
        print(f"burst of {BURST} runs, pace=False:")
        timed_burst(client.with_options(pace=False), "unpaced", window)

        # 4. No pacing and no retries: a 429 reaches the caller as RateLimitError.
        strict = client.with_options(pace=False, retry=knouds.RetryPolicy(max_retries=0))
        spare = client.rate_limits["models"].remaining
        if spare > 10:
            print(f"{spare} runs are left in this window: not spending them just to provoke a 429")
            return
        try:
            for _ in range(spare + limit.limit + 1):  # more than the window can take
                strict.models.run(MODEL, {"prompt": "one too many"})
        except knouds.RateLimitError as error:
            print(f"RateLimitError: {error}")
            print(f"  retry_after={error.retry_after} s, limit={error.limit}")
            time.sleep(error.retry_after or window)
            again = strict.models.run(MODEL, {"prompt": "one too many"})
            print(f"after waiting retry_after: {again!r}")


if __name__ == "__main__":
    main()
