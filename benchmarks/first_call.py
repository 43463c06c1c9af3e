"""The first call in a fresh process: knouds versus the same call written by hand.

Two comparisons, each in fresh interpreters against the benchmark server (``_server.py``),
repetitions interleaved, medians reported:

- **In a script:** import, build a client, the first run and a second run, timed inside the
  process, for ``knouds.Client`` and for a hand-written httpx + pydantic + tenacity client (the
  model is defined, as hand-written code does, at import).
- **From the shell:** the wall time of ``knouds run MODEL -i prompt=...`` against a script that
  makes the same call with httpx alone, and one that also validates with pydantic.

    python benchmarks/first_call.py [--reps 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import KEY, MODEL, median, table
from _server import BenchServer

HERE = Path(__file__).resolve().parent

IN_SCRIPT = {
    "knouds": """
import sys, time
t0 = time.perf_counter()
import knouds
t1 = time.perf_counter()
client = knouds.Client(KEY, base_url=BASE)
t2 = time.perf_counter()
client.models.run(MODEL, {"prompt": "a red fox"})
t3 = time.perf_counter()
client.models.run(MODEL, {"prompt": "a red fox"})
t4 = time.perf_counter()
""",
    "hand-written httpx + pydantic + tenacity": """
import sys, time
t0 = time.perf_counter()
import json
from typing import Any
import httpx, pydantic, tenacity

class Result(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    success: bool = True
    result: Any = None
    cost: int | float | None = None
    ms: int | float | None = None

@tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)
def run(client, inputs):
    response = client.post(f"{BASE}/api/models/{MODEL}/run", json={"inputs": inputs})
    response.raise_for_status()
    return Result.model_validate(json.loads(response.content))
t1 = time.perf_counter()
client = httpx.Client(headers={"x-api-key": KEY}, timeout=600)
t2 = time.perf_counter()
run(client, {"prompt": "a red fox"})
t3 = time.perf_counter()
run(client, {"prompt": "a red fox"})
t4 = time.perf_counter()
""",
}
TAIL = "print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)\n"

HAND_CLI = {
    "hand-written script, httpx": """
import json, os, sys
import httpx
base, key = os.environ["KNOUDS_BASE_URL"], os.environ["KNOUDS_API_KEY"]
with httpx.Client(headers={"x-api-key": key}, timeout=600) as client:
    url = f"{base}/api/models/{sys.argv[1]}/run"
    response = client.post(url, json={"inputs": {"prompt": sys.argv[2]}})
    response.raise_for_status()
    print(json.dumps(response.json(), indent=2))
""",
    "hand-written script, httpx + pydantic": """
import json, os, sys
from typing import Any
import httpx, pydantic

class Result(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    success: bool = True
    result: Any = None
    cost: int | float | None = None
    ms: int | float | None = None

base, key = os.environ["KNOUDS_BASE_URL"], os.environ["KNOUDS_API_KEY"]
with httpx.Client(headers={"x-api-key": key}, timeout=600) as client:
    url = f"{base}/api/models/{sys.argv[1]}/run"
    response = client.post(url, json={"inputs": {"prompt": sys.argv[2]}})
    response.raise_for_status()
    print(Result.model_validate(response.json()).model_dump_json(indent=2))
""",
}


def in_script(base_url: str, reps: int) -> str:
    header = f"KEY, MODEL, BASE = {KEY!r}, {MODEL!r}, {base_url!r}\n"
    samples: dict[str, list[list[float]]] = {name: [] for name in IN_SCRIPT}
    names = list(IN_SCRIPT)
    for rep in range(reps + 1):
        for name in names if rep % 2 == 0 else names[::-1]:
            code = header + IN_SCRIPT[name] + TAIL
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            if rep:  # the first round warms the file cache
                samples[name].append([float(x) for x in out.stdout.split()])
    rows = []
    base = [median(col) for col in zip(*samples[names[1]], strict=True)]
    for name in names:
        cols = [median(col) for col in zip(*samples[name], strict=True)]
        total = sum(cols[:3])
        rows.append(
            (
                name,
                f"{cols[0] * 1000:.1f}",
                f"{cols[1] * 1000:.1f}",
                f"{cols[2] * 1000:.2f} ({cols[2] / base[2]:.2f}x)",
                f"{cols[3] * 1000:.2f}",
                f"{total * 1000:.1f} ({total / sum(base[:3]):.2f}x)",
            )
        )
    head = (
        f"In a script: median of {reps} fresh processes each (ms; ratios against the "
        "hand-written client).\n\n"
    )
    header_row = ["client", "import", "build client", "first call", "second call", "total"]
    return head + table(header_row, rows)


def from_shell(base_url: str, reps: int, scratch: Path) -> str:
    env = dict(os.environ, KNOUDS_BASE_URL=base_url, KNOUDS_API_KEY=KEY)
    cli = [sys.executable, "-m", "knouds", "run", MODEL, "-i", "prompt=a fox"]
    commands = {"`knouds run`": cli}
    for name, code in HAND_CLI.items():
        path = scratch / f"hand_{len(commands)}.py"
        path.write_text(code)
        commands[name] = [sys.executable, str(path), MODEL, "a fox"]
    commands["`python -c pass` (interpreter start)"] = [sys.executable, "-c", "pass"]
    samples: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for rep in range(reps + 1):
        for name in names if rep % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            subprocess.run(commands[name], env=env, capture_output=True, check=True)
            if rep:
                samples[name].append(time.perf_counter() - started)
    base = median(samples[names[1]])
    rows = [
        (name, f"{median(values) * 1000:.0f}", f"{median(values) / base:.2f}x")
        for name, values in samples.items()
    ]
    head = f"From the shell: median wall time of {reps} runs each.\n\n"
    return head + table(["command", "wall (ms)", "vs httpx script"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    import tempfile

    with BenchServer() as server, tempfile.TemporaryDirectory() as scratch:
        print(in_script(server.base_url, args.reps), end="\n\n")
        print(from_shell(server.base_url, args.reps, Path(scratch)))


if __name__ == "__main__":
    main()
