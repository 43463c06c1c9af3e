"""Generate the sync half of the client shells from their async half.

The shells (`Client`, the resources, the media downloads, the batch worker) are written once, as
async code, between two marker lines::

    # unasync: async ...
    class AsyncModels: ...
    # unasync: end

Each file also holds the same number of generated regions, in the same order::

    # unasync: sync ...
    class Models: ...
    # unasync: end

This script rewrites every generated region from its async region with the token substitutions
below (``AsyncClient`` -> ``Client``, ``async def`` -> ``def``, ``await x`` -> ``x``, ...), drops
async lines that end in ``# unasync: remove``, and formats the file with ruff. Everything outside
the regions is written by hand and left as it is.

Usage (from the repository root)::

    python scripts/unasync.py           # regenerate the sync regions
    python scripts/unasync.py --check   # exit 1, with a diff, when a sync region differs
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "knouds/_batch.py",
    "knouds/_client.py",
    "knouds/_download.py",
    "knouds/resources/_runs.py",
    "knouds/resources/executions.py",
    "knouds/resources/models.py",
    "knouds/resources/workflow_definitions.py",
    "knouds/resources/workflows.py",
]

# (async, sync), applied in order to whole words. Every pair must be used somewhere.
SUBS = [
    # Syntax.
    ("async def", "def"),
    ("async for", "for"),
    ("async with", "with"),
    ("await ", ""),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("aclose", "close"),
    ("AsyncGenerator", "Generator"),
    # The libraries.
    ("asyncio.sleep", "time.sleep"),
    ("tenacity.AsyncRetrying", "tenacity.Retrying"),
    ("aiter_bytes", "iter_bytes"),
    ("arun", "run"),
    # The SDK's own names.
    ("AsyncClient", "Client"),
    ("AsyncExecutions", "Executions"),
    ("AsyncModels", "Models"),
    ("AsyncRuns", "Runs"),
    ("AsyncWorkflowDefinitions", "WorkflowDefinitions"),
    ("AsyncWorkflows", "Workflows"),
    ("AsyncSleep", "SleepFn"),
    ("build_async_http_client", "build_http_client"),
    ("asynchronous=True", "asynchronous=False"),
    ("drive_async", "drive"),
    ("run_batch_async", "run_batch"),
    ("_async_media_client", "_media_client"),
    ("_async_deadline", "_deadline"),
    ("aiter_media", "iter_media"),
    ("asave_media", "save_media"),
    ("asave_all", "save_all"),
    ("asave", "save"),
    ("Awaitable[RunResult]", "RunResult"),
    ("_awork", "_work"),
    ("acharged_call", "charged_call"),
    ("off_loop", "run_here"),
    # Docstring wording.
    (
        "An asyncio Knouds client: the same names as `Client`, awaited.",
        "A synchronous Knouds client. Thread-safe; share one per process.",
    ),
    ("an async function", "a function"),
    ("redis.asyncio.Redis", "redis.Redis"),
    ("worker task", "worker thread"),
]


def _edge(char: str) -> str:
    return r"\b" if char.isalnum() or char == "_" else ""


_COMPILED = [
    (re.compile(_edge(old[0]) + re.escape(old) + _edge(old[-1])), new) for old, new in SUBS
]
_REMOVE = "# unasync: remove"
_MARK = re.compile(r"^# unasync: (async|sync|end)\b")


def unasync_lines(lines: list[str], used: set[int] | None = None) -> list[str]:
    """The sync version of async source lines."""
    out = []
    for line in lines:
        if line.rstrip().endswith(_REMOVE):
            continue
        for index, (pattern, new) in enumerate(_COMPILED):
            line, count = pattern.subn(new, line)
            if count and used is not None:
                used.add(index)
        out.append(line)
    return out


def _regions(lines: list[str], path: str) -> list[tuple[str, int, int]]:
    """(kind, first line, end line) of each marked region: the lines strictly between markers."""
    regions, start, kind = [], -1, ""
    for number, line in enumerate(lines):
        match = _MARK.match(line)
        if match is None:
            continue
        word = match.group(1)
        if word == "end":
            if start < 0:
                raise SystemExit(f"{path}:{number + 1}: '# unasync: end' without a region")
            regions.append((kind, start, number))
            start = -1
        elif start >= 0:
            raise SystemExit(f"{path}:{number + 1}: a region opens inside another one")
        else:
            kind, start = word, number + 1
    if start >= 0:
        raise SystemExit(f"{path}: a region is not closed by '# unasync: end'")
    return regions


def generate(text: str, path: str, used: set[int] | None = None, root: Path | None = None) -> str:
    """``text`` with each sync region rewritten from the async region of the same rank, formatted
    with the ruff settings of ``root`` (the repository, by default)."""
    lines = text.splitlines(keepends=True)
    regions = _regions(lines, path)
    sources = [lines[a:b] for kind, a, b in regions if kind == "async"]
    targets = [(a, b) for kind, a, b in regions if kind == "sync"]
    if not sources or len(sources) != len(targets):
        raise SystemExit(f"{path}: wants as many sync regions as async ones, and at least one")
    for (a, b), source in reversed(list(zip(targets, sources, strict=True))):
        lines[a:b] = unasync_lines(source, used)
    return _format("".join(lines), path, root or ROOT)


def _format(text: str, path: str, root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", path, "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    if done.returncode != 0:
        raise SystemExit(f"{path}: ruff format failed on the generated code:\n{done.stderr}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail on a difference")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    used: set[int] = set()
    stale = []
    for name in FILES:
        path = args.root / name
        current = path.read_text(encoding="utf-8")
        expected = generate(current, name, used, args.root)
        if current == expected:
            continue
        stale.append(name)
        if args.check:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{name} (as committed)",
                f"{name} (as generated)",
                n=1,
            )
            sys.stdout.writelines(list(diff)[:40])
        else:
            path.write_text(expected, encoding="utf-8")
            print(f"regenerated the sync code of {name}")
    unused = [SUBS[i] for i in range(len(SUBS)) if i not in used]
    if unused:
        print(f"substitutions no async code uses (remove them): {unused}")
        return 1
    if args.check and stale:
        print(
            f"the sync code of {', '.join(stale)} differs from what its async code generates: "
            "edit the async code (between '# unasync: async' and '# unasync: end'), "
            "then run `python scripts/unasync.py`"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
