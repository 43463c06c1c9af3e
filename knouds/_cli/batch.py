"""``knouds batch``: run a model or workflow on every line of a JSON-lines file, resumably.

Each input line is one JSON object of inputs. Runs are recorded in a run journal (by default
``<inputs>.journal.sqlite`` beside the inputs), so the same command run again after a crash or a
Ctrl-C sends only what has not run yet. Results go out as JSON lines in input order; a summary
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .output import rate_limit_dict

if TYPE_CHECKING:
    import knouds

__all__ = ["add_batch_command", "read_jsonl"]


class BatchUsageError(Exception):
    """A mistake in the inputs file or the options (exit status 2)."""


def read_jsonl(path: str, stdin: TextIO | None = None) -> list[dict[str, Any]]:
    """The inputs of a JSON-lines file (``-`` reads stdin): one JSON object per non-blank line.

    Raises:
        BatchUsageError: an unreadable file, or a line that is not a JSON object.
    """
    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchUsageError(f"cannot read {path}: {exc.strerror}") from exc
    inputs: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise BatchUsageError(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise BatchUsageError(f"{path}:{number}: each line must be a JSON object of inputs")
        inputs.append(value)
    return inputs


class _Counter:
    """A one-line ``done/total`` counter on stderr (when tqdm is not installed)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, done: int, total: int, outcome: object) -> None:
        end = "\n" if done == total else ""
        self._stream.write(f"\r  {done}/{total} done{end}")
        self._stream.flush()


def _progress(err: TextIO) -> bool | Callable[[int, int, object], None] | None:
    isatty = getattr(err, "isatty", None)
    if isatty is None or not isatty():
        return None
    try:
        import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return _Counter(err)
    return True


def _error_dict(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "message": str(error),
        "status_code": getattr(error, "status_code", None),
        "code": getattr(error, "code", None),
    }


def _save(result: knouds.RunResult, directory: Path) -> list[str]:
    """Save a result's media into ``directory``: skipped when an earlier run of the batch saved
    every file, done again when one is missing (that run was interrupted while saving)."""
    from .._media.files import named

    paths = [directory / name for _, name in named(result.media)]
    if all(path.is_file() for path in paths):
        return [str(path) for path in paths]
    return [str(path) for path in result.save_all(directory)]


def _line(index: int, inputs: dict[str, Any], outcome: object, save: str | None) -> dict[str, Any]:
    import knouds

    line: dict[str, Any] = {"index": index, "inputs": inputs}
    if isinstance(outcome, knouds.RunResult):
        line["status"] = "completed"
        line.update(outcome.model_dump(mode="json", by_alias=True))
        line["from_journal"] = outcome.from_journal
        line["rate_limit"] = rate_limit_dict(outcome)
        if save is not None and outcome.media:
            try:
                line["saved"] = _save(outcome, Path(save) / f"{index:05d}")
            except knouds.KnoudsError as error:
                line["save_error"] = _error_dict(error)
        return line
    assert isinstance(outcome, BaseException)
    line["status"] = "unknown" if isinstance(outcome, knouds.UnknownOutcomeError) else "failed"
    line["error"] = _error_dict(outcome)
    return line


def _write_lines(lines: list[dict[str, Any]], out: str | None, stdout: TextIO) -> None:
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if out is None:
        stdout.write(text)
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: an interruption never leaves half a results file.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, target)


def _refused(line: dict[str, Any]) -> bool:
    """Whether an input was not started because a credit limit had no room for it."""
    return bool(line["status"] == "failed" and line["error"]["type"] == "BudgetExceededError")


def _summary(lines: list[dict[str, Any]], results: knouds.BatchResults) -> tuple[str, int]:
    completed = [line for line in lines if line["status"] == "completed"]
    reused = sum(1 for line in completed if line["from_journal"])
    refused = sum(1 for line in lines if _refused(line))
    failed = sum(1 for line in lines if line["status"] == "failed") - refused
    unknown = sum(1 for line in lines if line["status"] == "unknown")
    spent = sum(line.get("cost") or 0 for line in completed)
    usage = results.usage
    text = (
        f"{len(lines)} inputs: {len(completed)} completed ({reused} from the journal), "
        f"{failed} failed, {unknown} unknown outcome"
        + (f", {refused} not started (credit limit)" if refused else "")
        + f"; credits spent: {spent:g} ({usage.credits:g} by this run"
        + (f", {usage.grant_runs} runs paid by a trial grant" if usage.grant_runs else "")
        + ")"
        + ("" if results.estimate is None else f"; estimated {results.estimate:g}")
    )
    status = 13 if unknown else 14 if refused else 1 if failed else 0
    return text, status


def _cmd_batch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import knouds

    try:
        inputs = read_jsonl(args.inputs)
    except BatchUsageError as error:
        err.write(f"knouds: error: {error}\n")
        return 2
    journal: str | None = args.journal
    if journal is None and not args.no_journal and args.inputs != "-":
        journal = f"{args.inputs}.journal.sqlite"
    if args.no_journal:
        journal = None
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "journal": journal,
        "submit": args.submit,
        "resend_unknown": args.resend_unknown,
        "progress": _progress(err),
    }
    if args.timeout is not None:
        options["timeout"] = float(args.timeout)
    if args.max_credits is not None:
        options["max_credits"] = args.max_credits
    if journal is not None:
        err.write(f"knouds: journal: {journal} (run the same command again to resume)\n")
    with knouds.Client(api_key=args.api_key, base_url=args.base_url) as client:
        resource = client.workflows if args.workflow else client.models
        if args.workflow:
            _print_estimate(client, args.name, len(inputs), err)
        try:
            outcomes = resource.run_many(args.name, inputs, **options)
        except KeyboardInterrupt:
            where = f"in the journal {journal}" if journal else "nowhere (no journal)"
            err.write(
                "\nknouds: interrupted: runs in flight finished and are recorded "
                f"{where}; run the same command again to resume.\n"
            )
            return 130
    lines = [
        _line(index, item, outcome, args.save)
        for index, (item, outcome) in enumerate(zip(inputs, outcomes, strict=True))
    ]
    _write_lines(lines, args.out, out)
    text, status = _summary(lines, outcomes)
    err.write(f"knouds: {text}\n")
    if status == 13:
        err.write(
            "knouds: an unknown outcome means a run started and its end was never recorded: it "
            "may have run. Check, then run again with --resend-unknown to send those inputs "
            "again.\n"
        )
    if status == 14:
        err.write(
            "knouds: the credit limit stopped the batch before every input started; run the same "
            "command again with a higher --max-credits to go on (completed inputs come from the "
            "journal).\n"
        )
    return status


def _print_estimate(client: knouds.Client, slug: str, runs: int, err: TextIO) -> None:
    """Say what Knouds estimates the batch will cost, when it publishes an estimate."""
    import knouds

    try:
        total = client.workflows.estimate(slug, runs)
    except knouds.APIStatusError:  # no schema access: run_many reports what it can
        return
    if total is not None:
        err.write(f"knouds: estimated cost: {total:g} credits for {runs} inputs\n")


def add_batch_command(add: Callable[..., Any]) -> Any:
    """Register ``knouds batch`` with the parser's ``add(name, handler, help)`` helper."""
    batch = add(
        "batch",
        _cmd_batch,
        "run a model (or workflow) on every line of a JSON-lines file, resumably",
    )
    batch.add_argument("name", metavar="MODEL")
    batch.add_argument("inputs", metavar="INPUTS.jsonl", help="one JSON object per line (- stdin)")
    batch.add_argument("--workflow", action="store_true", help="MODEL is a workflow slug")
    batch.add_argument(
        "--journal",
        metavar="FILE",
        help="the run journal: a SQLite file or a redis:// URL (default: INPUTS.journal.sqlite)",
    )
    batch.add_argument("--no-journal", action="store_true", help="do not record runs")
    batch.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="runs in flight (default 8)"
    )
    batch.add_argument(
        "--submit",
        action="store_true",
        help="run each input as an async execution; a resumed batch waits on the stored ones",
    )
    batch.add_argument(
        "--resend-unknown",
        action="store_true",
        help="send again inputs whose outcome is unknown (they may be charged twice)",
    )
    batch.add_argument("--save", metavar="DIR", help="download media into DIR/<index>/")
    batch.add_argument("--out", metavar="FILE", help="write the results here (default: stdout)")
    batch.add_argument("--timeout", type=float, metavar="S", help="seconds per attempt")
    batch.add_argument(
        "--max-credits",
        type=float,
        metavar="N",
        help="spend at most N credits in this run; a workflow batch estimated above it is refused",
    )
    return batch
