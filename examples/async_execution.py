"""Submit a video run, wait for it, and save the video.

Usage: python examples/async_execution.py [output-directory]

With KNOUDS_API_KEY set this calls the real Knouds API (and spends credits); without it, it runs
against the local emulator that ships with the SDK.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import httpx

import knouds

MODEL = "seedance-2-i2v"
INPUTS = {
    "prompt": "A paper boat drifting down a rainy street, cinematic, slow motion",
    "image_url": "https://images.unsplash.com/photo-1501691223387-dd0500403074",
}


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "knouds-output")
    with contextlib.ExitStack() as stack:
        if os.environ.get("KNOUDS_API_KEY"):
            client = stack.enter_context(knouds.Client())
            print(f"Using the Knouds API at {client.base_url}")
        else:
            from knouds.testing import Emulator

            emulator = stack.enter_context(Emulator(execution_delay=1.0))
            client = stack.enter_context(
                knouds.Client(api_key=emulator.api_key, base_url=emulator.base_url)
            )
            print(f"KNOUDS_API_KEY is not set: using the local emulator at {emulator.base_url}")

        execution = client.models.submit(MODEL, INPUTS)
        print(f"Submitted {execution.id} ({execution.status})")

        result = client.executions.wait(execution, timeout=900)
        print(f"Done: {result!r}")
        print(f"Cost: {result.cost} credits, server time: {result.ms} ms")

        out_dir.mkdir(parents=True, exist_ok=True)
        for video in result.videos:
            response = httpx.get(video.url, follow_redirects=True, timeout=120)
            response.raise_for_status()
            path = out_dir / video.filename
            path.write_bytes(response.content)
            print(f"Saved {video.url} -> {path}")


if __name__ == "__main__":
    main()
