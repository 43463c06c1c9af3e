"""Peak memory of ``Media.save`` on a large file: it must stream in constant memory.

Starts the local emulator, saves a 200 MB blob with :meth:`knouds.Media.save` and reports the
Python-level peak (``tracemalloc``) and the growth of the process's peak resident set size
(``ru_maxrss``). Run it with ``python benchmarks/media_memory.py [size_in_bytes]``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import knouds
from knouds.testing import Emulator

DEFAULT_SIZE = 200 * 1024 * 1024


def max_rss_bytes() -> int:
    """The process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(size: int = DEFAULT_SIZE) -> None:
    """Save a ``size``-byte blob from the emulator and print the memory it took."""
    mib = 1024 * 1024
    with Emulator() as emu, tempfile.TemporaryDirectory() as directory:
        media = knouds.Media(url=f"{emu.base_url}/media/blob/{size}.bin", kind="image")
        knouds.Media(url=f"{emu.base_url}/media/blob/1024.bin", kind="image").read()  # warm up
        rss_before = max_rss_bytes()
        tracemalloc.start()
        started = time.perf_counter()
        path = media.save(Path(directory) / "blob.bin")
        elapsed = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = max_rss_bytes() - rss_before
        written = path.stat().st_size
    assert written == size, f"wrote {written} bytes, expected {size}"
    print(f"saved {size / mib:.0f} MiB in {elapsed:.2f} s ({size / mib / elapsed:.0f} MiB/s)")
    print(f"tracemalloc peak:  {traced_peak / mib:8.2f} MiB")
    print(f"ru_maxrss growth:  {rss_growth / mib:8.2f} MiB  (includes the emulator's thread)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SIZE)
