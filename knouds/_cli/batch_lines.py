"""The result lines and the summary of ``knouds batch``.

Each input gets one JSON line: ``index``, ``inputs``, ``status`` (``completed``, ``failed`` or
``unknown``) and the result or the error. An input whose run may have happened without its
answer being known (an unknown outcome) is told apart from one that did not run or failed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .journal import redact_urls, when
from .output import rate_limit_dict
from .results import ResultsOutput

if TYPE_CHECKING:
    import knouds
    from knouds._base.batch import BatchOutcome
    from knouds._types import Inputs

__all__ = ["Collector", "progress", "result_line", "status_of", "summary", "unknown_advice"]


class _Counter:
    """A one-line ``done/total`` counter on stderr (when tqdm is not installed)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, done: int, total: int, outcome: object) -> None:
        end = "\n" if done == total else ""
        self._stream.write(f"\r  {done}/{total} done{end}")
        self._stream.flush()


def progress(err: TextIO) -> bool | Callable[[int, int, object], None] | None:
    isatty = getattr(err, "isatty", None)
    if isatty is None or not isatty():
        return None
    try:
        import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return _Counter(err)
    return True


def status_of(outcome: object) -> str:
    """``completed``, ``unknown`` (it may have run: the journal's unknown outcome, or an answer
    lost after sending) or ``failed`` (it did not run, or ran and failed)."""
    import knouds

    if isinstance(outcome, knouds.RunResult):
        return "completed"
    if isinstance(outcome, knouds.UnknownOutcomeError):
        return "unknown"
    if isinstance(outcome, knouds.KnoudsError) and outcome._verdict == "unknown":
        return "unknown"  # the run pipeline's verdict: it may have run
    return "failed"  # refused before sending (budget, journal, inputs), or failed unexpectedly


def _error_dict(error: BaseException, journal: str | None, key: str | None) -> dict[str, Any]:
    import knouds

    message = str(error)
    data: dict[str, Any] = {
        "type": type(error).__name__,
        "message": "",
        "status_code": getattr(error, "status_code", None),
        "code": getattr(error, "code", None),
    }
    if isinstance(error, knouds.UnknownOutcomeError) and journal is not None:
        key = error.key
        message = unknown_outcome_text(error, journal)
    if key and journal is not None and status_of(error) == "unknown":
        data["key"] = key  # what `knouds journal mark-failed` and `forget` take
    data["message"] = redact_urls(message)
    return data


def unknown_outcome_text(error: knouds.UnknownOutcomeError, journal: str) -> str:
    """What the command says about an input the journal holds as an unknown outcome."""
    entry = error.entry
    started, how = "", "never recorded how it ended"
    if entry is not None:
        started = f" started at {when(entry.started_at)} and"
        if entry.state == "unknown" and entry.error:
            ended = " ".join(str(entry.error.get("message")).split()).rstrip(".")
            how = f"its last attempt ended with: {ended}"
        else:
            how = f"process {entry.owner} stopped before recording how it ended"
    return (
        f"This input's run{started} {how}. Knouds may have run it and charged for it, so it "
        "was not sent again. If it did not run, send it again with --resend-unknown (or "
        f"`knouds journal forget {journal} {error.key}`); if it did, settle it with "
        f"`knouds journal mark-failed {journal} {error.key} NOTE`."
    )


def _save(result: knouds.RunResult, directory: Path) -> list[str]:
    """Save a result's media into ``directory``: skipped when an earlier run of the batch saved
    every file, done again when one is missing (that run was interrupted while saving)."""
    from .._media.files import named

    paths = [directory / name for _, name in named(result.media)]
    if all(path.is_file() for path in paths):
        return [str(path) for path in paths]
    return [str(path) for path in result.save_all(directory)]


def result_line(
    index: int,
    inputs: dict[str, Any],
    outcome: object,
    *,
    save: str | None,
    journal: str | None,
    key: str | None = None,
) -> dict[str, Any]:
    """The JSON line of one input (``key``: its journal key, in a journaled batch)."""
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
                line["save_error"] = _error_dict(error, journal, None)
        return line
    assert isinstance(outcome, BaseException)
    line["status"] = status_of(outcome)
    line["error"] = _error_dict(outcome, journal, key)
    return line


class Collector:
    """Turns each outcome into its line as the run ends, and hands it to the output."""

    def __init__(
        self,
        inputs: list[dict[str, Any]],
        output: ResultsOutput,
        save: str | None,
        journal: str | None,
    ) -> None:
        self._inputs = inputs
        self.total = len(inputs)
        self._output = output
        self._save = save
        self._journal = journal
        self._lock = threading.Lock()
        self.lines: dict[int, dict[str, Any]] = {}

    def __call__(self, index: int, inputs: Inputs, outcome: BatchOutcome) -> None:
        key = getattr(inputs, "journal_key", None)
        line = result_line(
            index,
            self._inputs[index],
            outcome,
            save=self._save,
            journal=self._journal,
            key=key if isinstance(key, str) else None,
        )
        with self._lock:
            self.lines[index] = line
        self._output.add(index, json.dumps(line, ensure_ascii=False))

    def ordered(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.lines[index] for index in sorted(self.lines)]


# -- summary ------------------------------------------------------------------------------


def _refused(line: dict[str, Any]) -> bool:
    """Whether an input was not started because a credit limit had no room for it."""
    return bool(line["status"] == "failed" and line["error"]["type"] == "BudgetExceededError")


def summary(
    lines: list[dict[str, Any]],
    *,
    total: int,
    usage: knouds.Usage,
    estimate: float | None,
    limit: float | None,
    pending: str = "not started (interrupted)",
) -> tuple[str, int]:
    """The summary line and the exit status of a batch (of the inputs that ended; ``pending``
    says what happened to the others)."""
    completed = [line for line in lines if line["status"] == "completed"]
    reused = sum(1 for line in completed if line["from_journal"])
    refused = sum(1 for line in lines if _refused(line))
    failed = sum(1 for line in lines if line["status"] == "failed") - refused
    unknown = sum(1 for line in lines if line["status"] == "unknown")
    not_started = total - len(lines)
    spent = sum(line.get("cost") or 0 for line in completed)
    text = (
        f"{total} inputs: {len(completed)} completed ({reused} from the journal), "
        f"{failed} failed, {unknown} unknown outcome"
        + (f", {refused} not started (credit limit)" if refused else "")
        + (f", {not_started} {pending}" if not_started else "")
        + f"; credits spent: {spent:g} ({usage.credits:g} by this run"
        + (f", {usage.grant_runs} runs paid by a trial grant" if usage.grant_runs else "")
        + ")"
        + ("" if estimate is None else f"; estimated {estimate:g}")
    )
    if limit is not None:
        text += f"; this run spent {usage.credits:g} of a limit of {limit:g} credits"
        if usage.credits > limit + 1e-9:
            text += f" (over the limit by {usage.credits - limit:g})"
    status = 13 if unknown else 14 if refused else 1 if failed else 0
    return text, status


def unknown_advice(journal: str | None) -> str:
    if journal is None:
        return (
            "knouds: an unknown outcome means the input was sent and its answer was lost (a "
            "timeout, a server error): Knouds may have run it and charged for it. There is no "
            "journal, so running the command again sends it again, and pays again if it ran.\n"
        )
    return (
        "knouds: an unknown outcome means the input was sent and no answer was recorded (a "
        "timeout, a server error, or the process stopped mid-run): Knouds may have run it and "
        "charged for it, so the next run of this command does not send it. Check whether it "
        "ran (the Knouds dashboard lists your runs), then either send those inputs again with "
        "--resend-unknown (paid again if they ran), or settle each one with `knouds journal "
        f"mark-failed {journal} KEY NOTE` (listed by `knouds journal list {journal} --state "
        "unknown`).\n"
    )
