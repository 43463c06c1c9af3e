"""Run one model on 30 prompts, a few at a time, with progress and a summary.

``run_many`` keeps at most ``concurrency`` runs in flight, shares the client's rate-limit pacing
between them, and returns one slot per input in input order: the result, or the error that input
raised (one bad input does not stop the batch). Two inputs below are broken on purpose.

    python examples/async_batch.py

With KNOUDS_API_KEY set this calls Knouds itself (and spends credits); without it, it runs
against the local Knouds emulator that ships with the SDK.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from contextlib import ExitStack

import knouds

MODEL = "gpt-image-2"
CONCURRENCY = 5
SUBJECTS = ["fox", "wren", "whale", "heron", "lynx", "seal", "moth", "crab", "yak", "newt"]
STYLES = ["watercolour", "linocut", "pixel art"]
INPUTS: list[dict[str, object]] = [
    {"prompt": f"a {subject} in {style}", "aspect_ratio": "1:1"}
    for style in STYLES
    for subject in SUBJECTS
]
INPUTS[7] = {"aspect_ratio": "1:1"}  # no prompt: the API answers 400 INVALID_INPUTS
INPUTS[19] = {"prompt": ["not", "a", "string"]}  # a prompt of the wrong type


def print_progress(done: int, total: int, outcome: knouds.RunResult | knouds.KnoudsError) -> None:
    """Called by ``run_many`` after each input finishes (calls are never concurrent)."""
    if done % 10 == 0 or done == total:
        print(f"progress: {done}/{total} done")


async def run_batch() -> None:
    # A tqdm bar when tqdm is installed (pip install "knouds[tqdm]"), else our callback.
    progress = True if importlib.util.find_spec("tqdm") else print_progress
    async with knouds.AsyncClient() as client:
        started = time.monotonic()
        outcomes = await client.models.run_many(
            MODEL, INPUTS, concurrency=CONCURRENCY, progress=progress
        )
        elapsed = time.monotonic() - started

    successes = [o for o in outcomes if isinstance(o, knouds.RunResult)]
    for index, (inputs, outcome) in enumerate(zip(INPUTS, outcomes, strict=True)):
        if isinstance(outcome, knouds.RunResult):
            urls = ", ".join(media.url for media in outcome.images)
            print(f"{index:2d} ok    credits: {outcome.cost}  {inputs['prompt']!s:28}  {urls}")
        else:
            print(f"{index:2d} error {type(outcome).__name__}: {outcome}")

    total_cost = sum(result.cost or 0 for result in successes)
    print(
        f"summary: {len(successes)} succeeded, {len(outcomes) - len(successes)} failed, "
        f"credits spent: {total_cost}, {elapsed:.1f} s with {CONCURRENCY} in flight"
    )


def main() -> None:
    with ExitStack() as stack:
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator(run_delay=0.05))  # a little server time per run
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        asyncio.run(run_batch())


if __name__ == "__main__":
    main()
