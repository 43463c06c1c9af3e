"""Run gpt-image-2, print the typed result and save the image.

Without KNOUDS_API_KEY this starts the local Knouds emulator and runs against it, so it works on a
fresh machine with no account; with the variable set it calls Knouds itself (and spends credits).

    python examples/quickstart.py [OUTPUT_DIR]

The image is saved in OUTPUT_DIR, by default ``knouds-output/`` in the current folder (the
repository's ``.gitignore`` lists it); the script prints where.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import knouds


def main(output_dir: str = "knouds-output") -> None:
    with ExitStack() as stack:
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator())
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        client = stack.enter_context(knouds.Client())  # reads KNOUDS_API_KEY and KNOUDS_BASE_URL

        result = client.models.run("gpt-image-2", {"prompt": "a red fox in the snow"})
        print(repr(result))
        print(f"credits spent: {result.cost}, server time: {result.ms} ms")
        if result.rate_limit is not None:
            print(f"rate limit: {result.rate_limit.remaining}/{result.rate_limit.limit} left")

        out_dir = Path(output_dir).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        for image in result.images:
            print(f"image: {image.url}")
            path = image.save(out_dir)  # streamed to disk; the API key is never sent to media URLs
            print(f"saved: {path} ({path.stat().st_size} bytes)")
        print(f"output folder: {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
