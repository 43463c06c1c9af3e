"""Run every benchmark in turn and print their Markdown tables (the source of docs/performance.md).

Not part of CI: run by hand on an otherwise idle machine, from the repository root:

    python benchmarks/run_all.py [--quick] [--peer-python /tmp/peers/bin/python]

The CPU table includes the openai and anthropic SDKs' default async clients when they are
installed in the same environment (``pip install openai anthropic``; they are not dependencies of
knouds). ``--peer-python`` is a Python with ``openai`` and ``httpx-aiohttp`` installed in its own
environment, for the older throughput table; without it those rows are skipped. Each script also
runs alone; see its ``--help``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--peer-python", default=None)
    args = parser.parse_args()
    reps = ["--reps", "5"] if args.quick else []
    peer = ["--peer-python", args.peer_python] if args.peer_python else []
    runs = [
        ("Client CPU per request", ["cpu.py", "--aiohttp", *reps]),
        ("Where a run over aiohttp spends its CPU", ["aiohttp_layers.py"]),
        ("Import time", ["import_time.py", *reps]),
        ("First call", ["first_call.py", *reps]),
        ("Paced batch", ["pacing.py", "--requests", "300", "--limit", "50", "--window", "2"]),
        ("1000 concurrent slow runs", ["slow_runs.py", "--aiohttp", "--reps", "3"]),
        ("Async throughput", ["throughput.py", *peer]),
        ("Media download memory", ["media_memory.py"]),
        ("Run journal", ["journal.py", *reps]),
    ]
    for title, command in runs:
        print(f"## {title}\n\n`python benchmarks/{' '.join(command)}`\n", flush=True)
        subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=True)
        print(flush=True)


if __name__ == "__main__":
    main()
