"""Import cost: ``import knouds`` (and its first ``knouds.Client`` use) versus importing the three
libraries it is built on, each in a fresh interpreter.

Each statement runs ``--reps`` times in a new ``python -c`` process, interleaved; the table shows
the median wall time of the process minus the median of an empty interpreter (``pass``).

    python benchmarks/import_time.py [--reps 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import median, table

STATEMENTS = {
    "python -c pass (subtracted)": "pass",
    "import httpx, pydantic, tenacity": "import httpx, pydantic, tenacity",
    "import knouds": "import knouds",
    "import knouds; knouds.Client": "import knouds; knouds.Client",
    "import knouds; knouds.Client(...)": (
        "import knouds; knouds.Client('knouds_live_x', base_url='http://127.0.0.1:9')"
    ),
}


def wall(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for statement in STATEMENTS.values():
        wall(statement)  # warm the file cache
    names = list(STATEMENTS)
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            samples[name].append(wall(STATEMENTS[name]))
    empty = median(samples[names[0]])
    reference = median(samples["import httpx, pydantic, tenacity"]) - empty
    rows = []
    for name in names[1:]:
        cost = median(samples[name]) - empty
        rows.append((f"`{name}`", f"{cost * 1000:.0f}", f"{cost / reference:.2f}x"))
    print(
        f"Median of {args.reps} fresh processes each, minus an empty interpreter "
        f"({empty * 1000:.0f} ms).\n"
    )
    print(table(["statement", "import cost (ms)", "vs httpx+pydantic+tenacity"], rows))


if __name__ == "__main__":
    main()
