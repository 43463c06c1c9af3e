"""Run gpt-image-2, print the typed result and save the image.

Without KNOUDS_API_KEY this starts the local Knouds emulator and runs against it, so it works on a
fresh machine with no account; with the variable set it calls Knouds itself.

    python examples/quickstart.py [OUTPUT_DIR]
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import knouds


def main(output_dir: str = "knouds-output") -> None:
    with ExitStack() as stack:
        if os.environ.get("KNOUDS_API_KEY"):
            client = stack.enter_context(knouds.Client())
            print(f"Using Knouds at {client.base_url}")
        else:
            from knouds.testing import Emulator

            emulator = stack.enter_context(Emulator())
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emulator.base_url}")
            client = stack.enter_context(
                knouds.Client(api_key=emulator.api_key, base_url=emulator.base_url)
            )

        result = client.models.run("gpt-image-2", {"prompt": "a red fox in the snow"})
        print(repr(result))
        print(f"cost: {result.cost} credits, server time: {result.ms} ms")
        if result.rate_limit is not None:
            print(f"rate limit: {result.rate_limit.remaining}/{result.rate_limit.limit} left")
        for image in result.images:
            print(f"image: {image.url}")
            if hasattr(image, "save"):
                path = image.save(Path(output_dir))
                print(f"saved: {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
