"""Mutation testing of the SDK's rule modules against the fast unit tests, with a per-module score.

Usage (from the repository root, with the dev extra installed)::

    python scripts/mutation.py                      # every rule module (about 20-30 min on 1 core)
    python scripts/mutation.py _core.retry webhooks  # some modules only
    python scripts/mutation.py --survivors          # re-check last run's survivors only
    python scripts/mutation.py --report             # no run: report the last run
    python scripts/mutation.py --sample 40          # a seeded random sample (a quick smoke run)

It runs ``mutmut run`` (configured under ``[tool.mutmut]`` in ``pyproject.toml``: the modules in
``only_mutate``, tests from ``tests/unit``) at low CPU priority with ``--jobs`` workers (default 1),
then prints, per module: mutants, killed, survivors listed in ``scripts/mutation_equivalents.toml``
(``kind = "equivalent"``: no test can tell them apart; ``kind = "kept"``: a real difference not
worth a test, with the reason), unexplained survivors, and the score, killed / (mutants -
equivalent). Timeouts count as killed. Unexplained survivors are printed as diffs.

Exit status: 0 when every survivor is listed, 1 otherwise (2 when mutmut itself failed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.toml"
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # a failing test, a timeout, or the type checker
NO_TESTS = {5, 33}


def rule_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    # knouds/_core/retry.py -> _core.retry
    return [
        ".".join(Path(p).relative_to("knouds").with_suffix("").parts) for p in config["only_mutate"]
    ]


def load_results() -> dict[str, dict[str, int | None]]:
    """Exit codes of every generated mutant, by module name under ``knouds`` (``_core.retry``)."""
    results: dict[str, dict[str, int | None]] = {}
    for module in rule_modules():
        meta = ROOT / "mutants" / "knouds" / f"{module.replace('.', '/')}.py.meta"
        if meta.exists():
            data = json.loads(meta.read_text("utf-8"))
            results[module] = dict(data.get("exit_code_by_key", {}))
    return results


def changed_lines(name: str) -> tuple[str, str]:
    """The removed and the added lines of a mutant's diff, stripped, one per line."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name)
    was = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and ln[1:2] != "-"]
    now = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and ln[1:2] != "+"]
    return "\n".join(was), "\n".join(now)


def function_of(name: str) -> str:
    """``knouds._core.retry.x_decide__mutmut_3`` -> ``decide``; methods as ``Class.method``."""
    mangled = name.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    if mangled.startswith("xǁ"):
        cls, _, method = mangled[2:].partition("ǁ")
        return f"{cls}.{method}"
    return mangled[2:]


def load_equivalents() -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """Listed survivors: (module, function, removed lines, added lines) -> (kind, reason)."""
    data = tomllib.loads(EQUIVALENTS.read_text("utf-8")) if EQUIVALENTS.exists() else {}
    listed = {}
    for entry in data.get("survivor", []):
        key = (entry["module"], entry["function"], entry["was"].strip(), entry["now"].strip())
        listed[key] = (entry.get("kind", "equivalent"), entry["reason"])
    return listed


def run_mutmut(names: list[str], jobs: int) -> int:
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children"]
    command += [str(jobs), *names]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def report(modules: list[str], elapsed: float | None) -> int:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    results = load_results()
    equivalents = load_equivalents()
    used: set[tuple[str, str, str, str]] = set()
    rows = []
    unexplained: list[tuple[str, str, str]] = []
    explained: list[tuple[str, str, str, tuple[str, str]]] = []
    for module in modules:
        codes = results.get(module, {})
        counts: Counter[str] = Counter()
        for name, code in codes.items():
            if code is None:
                counts["not checked"] += 1
                continue
            counts["mutants"] += 1
            if code in KILLED:
                counts["killed"] += 1
                continue
            was, now = changed_lines(name)
            key = (f"knouds.{module}", function_of(name), was, now)
            if key in equivalents:
                used.add(key)
                kind = equivalents[key][0]
                counts["equivalent" if kind == "equivalent" else "kept"] += 1
                explained.append((name, was, now, equivalents[key]))
            else:
                counts["no tests" if code in NO_TESTS else "survived"] += 1
                unexplained.append((name, was, now))
        real = counts["mutants"] - counts["equivalent"]
        score = 100.0 * counts["killed"] / real if real else 100.0
        rows.append((module, counts, score))

    header = f"{'module':<15} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'kept':>5} "
    header += f"{'survived':>8} {'no tests':>8} {'score':>7}"
    print(header)
    totals: Counter[str] = Counter()
    for module, counts, score in rows:
        totals.update(counts)
        print(
            f"{module:<15} {counts['mutants']:>7} {counts['killed']:>7} {counts['equivalent']:>7} "
            f"{counts['kept']:>5} {counts['survived']:>8} {counts['no tests']:>8} {score:>6.1f}%"
            + (f"  ({counts['not checked']} not checked)" if counts["not checked"] else "")
        )
    real = totals["mutants"] - totals["equivalent"]
    print(
        f"{'total':<15} {totals['mutants']:>7} {totals['killed']:>7} {totals['equivalent']:>7} "
        f"{totals['kept']:>5} {totals['survived']:>8} {totals['no tests']:>8} "
        f"{(100.0 * totals['killed'] / real if real else 100.0):>6.1f}%"
    )
    if elapsed is not None:
        print(f"time: {elapsed:.0f} s")
    if unexplained:
        print(f"\n{len(unexplained)} survivor(s) not listed in {EQUIVALENTS.name}:")
        for name, was, now in unexplained:
            print(f"\n{name}\n  - {was.replace(chr(10), chr(10) + '  - ')}")
            print(f"  + {now.replace(chr(10), chr(10) + '  + ')}")
    stale = [k for k in equivalents if k[0].removeprefix("knouds.") in modules and k not in used]
    if stale and all(not c["not checked"] for _, c, _ in rows):
        print(f"\n{len(stale)} entr(y/ies) of {EQUIVALENTS.name} matched no survivor:")
        for module, function, was, now in stale:
            print(f"  {module}.{function}: {was!r} -> {now!r}")
    return 1 if unexplained else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="module names, e.g. _core.retry webhooks")
    parser.add_argument("--jobs", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--survivors", action="store_true", help="re-check last run's survivors")
    parser.add_argument("--sample", type=int, help="check a seeded random sample of N mutants")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample")
    parser.add_argument("--report", action="store_true", help="only report the last run")
    args = parser.parse_args()
    modules = list(args.modules)
    known = rule_modules()
    for module in modules:
        if module not in known:
            parser.error(f"{module!r} is not one of {', '.join(known)}")
    modules = modules or known

    elapsed = None
    if not args.report:
        names = [f"knouds.{m}.*" for m in modules] if args.modules else []
        if args.survivors or args.sample:
            results = load_results()
            pool = sorted(
                name
                for module in modules
                for name, code in results.get(module, {}).items()
                if not args.survivors or code not in KILLED
            )
            if args.sample:
                pool = sorted(random.Random(args.seed).sample(pool, min(args.sample, len(pool))))
            if not pool:
                print("nothing to run (run the whole set once first)")
                return report(modules, None)
            names = pool
        started = time.monotonic()
        code = run_mutmut(names, args.jobs)
        elapsed = time.monotonic() - started
        if code != 0:
            print(f"mutmut failed (exit status {code}); the table below is from earlier runs")
            report(modules, None)
            return 2
    return report(modules, elapsed)


if __name__ == "__main__":
    sys.exit(main())
