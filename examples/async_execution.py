"""Submit a video run, wait for it, and save the video.

A video takes a minute or more, so instead of holding a request open this submits the run
(``?async=true``), gets an execution id at once, and polls it with backoff until it ends.

    python examples/async_execution.py [OUTPUT_DIR]

With KNOUDS_API_KEY set this calls Knouds itself (and spends credits); without it, it runs
against the local Knouds emulator that ships with the SDK.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import knouds

MODEL = "seedance-2-i2v"
INPUTS = {
    "prompt": "A paper boat drifting down a rainy street, cinematic, slow motion",
    "image_url": "https://images.unsplash.com/photo-1501691223387-dd0500403074",
}


def main(output_dir: str = "knouds-output") -> None:
    with ExitStack() as stack:
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator(execution_delay=0.5))
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        client = stack.enter_context(knouds.Client())

        execution = client.models.submit(MODEL, INPUTS)
        print(f"submitted: {execution.id} ({execution.status})")

        try:
            result = client.executions.wait(execution, timeout=900)
        except (knouds.ExecutionFailedError, knouds.ExecutionCancelledError) as error:
            sys.exit(f"the run did not complete: {error}")
        print(f"done: {result!r}")
        print(f"credits spent: {result.cost}, server time: {result.ms} ms")

        out_dir = Path(output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for video in result.videos:
            path = video.save(out_dir)  # streamed to disk in constant memory
            print(f"saved: {video.url} -> {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
