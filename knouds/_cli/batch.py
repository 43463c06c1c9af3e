"""``knouds batch``: run a model or workflow on every line of a JSON-lines file, resumably.

Each input line is one JSON object of inputs. Runs are recorded in a run journal (by default
``<inputs>.journal.sqlite`` beside the inputs; stdin has none unless ``--journal`` names one),
so the same command run again after a crash, a Ctrl-C or a SIGTERM sends only what has not run
yet. Each result is written as its run ends (see `knouds._cli_results`); ``--out`` ends up in
input order. A summary goes to stderr.

Everything that can be checked is checked before anything is opened or paid for: the options,
the inputs file, whether the output can be written.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .batch_lines import Collector, progress, summary, unknown_advice
from .inputs import UsageError, read_jsonl, source_name
from .journal import redact_urls
from .results import ResultsOutput, partial_path
from .signals import SIGNAL_EXIT, Stop, handled_signals, signal_name

if TYPE_CHECKING:
    import knouds

__all__ = ["CheckedValue", "add_batch_command", "read_jsonl"]


# -- options ------------------------------------------------------------------------------


class CheckedValue(argparse.Action):
    """Stores an option's value once ``check(value)`` finds nothing wrong with it; otherwise a
    usage error (exit status 2) naming the option: ``--concurrency must be at least 1``."""

    def __init__(self, *args: Any, check: Callable[[Any], str | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.check = check

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        problem = self.check(values)
        if problem:
            parser.error(f"{option_string or self.dest} {problem}")
        setattr(namespace, self.dest, values)


def at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be at least 1, got {value}"


def credits_amount(value: float) -> str | None:
    if math.isfinite(value) and value >= 0:
        return None
    return f"must be a number of credits, 0 or more, got {value:g}"


def seconds(value: float) -> str | None:
    if math.isfinite(value) and value > 0:
        return None
    return f"must be a number of seconds above 0, got {value:g}"


# -- the command --------------------------------------------------------------------------


def _journal_of(args: argparse.Namespace) -> str | None:
    if args.no_journal:
        if args.journal is not None:
            raise UsageError("--journal and --no-journal cannot both be given")
        return None
    if args.journal is not None:
        return str(args.journal)
    return None if args.inputs == "-" else f"{args.inputs}.journal.sqlite"


def _check_save(save: str | None) -> None:
    if save is None:
        return
    target = Path(save)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--save {save} is not a directory")


def _cmd_batch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = read_jsonl(args.inputs)
    name = source_name(args.inputs)
    if not inputs:
        err.write(
            f"knouds: warning: {name} holds no inputs (no line that is not blank): nothing to "
            "run; no journal and no results written\n"
        )
        return 0
    journal = _journal_of(args)
    _check_save(args.save)
    output = ResultsOutput(args.out, out)
    output.open()
    try:
        return _run(args, inputs, journal, output, err)
    finally:
        output.discard()  # only when nothing ran: the .partial file created by open()


def _run(
    args: argparse.Namespace,
    inputs: list[dict[str, Any]],
    journal: str | None,
    output: ResultsOutput,
    err: TextIO,
) -> int:
    from .._base.batch import IndexedProgress
    from .main import _client

    shown = None if journal is None else redact_urls(journal)
    collector = Collector(inputs, output, args.save, shown)
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "journal": journal,
        "submit": args.submit,
        "resend_unknown": args.resend_unknown,
        "progress": IndexedProgress(collector, progress(err)),
        "max_credits": args.max_credits,
    }
    if args.timeout is not None:
        options["timeout"] = float(args.timeout)
    results: knouds.BatchResults | None = None
    with handled_signals(err) as signals:
        with _client(args) as client:
            signals.leave = lambda signum: _leave_now(
                signum, lambda: _say_left(signum, collector, output, client.usage, args, shown, err)
            )
            if shown is not None:
                err.write(f"knouds: journal: {shown} (run the same command again to resume)\n")
            elif args.inputs == "-" and not args.no_journal:
                err.write(
                    "knouds: stdin: no journal, a re-run pays again; pass --journal FILE to "
                    "resume\n"
                )
            try:
                resource = client.workflows if args.workflow else client.models
                if args.workflow:
                    _print_estimate(client, args.name, len(inputs), err)
                results = resource.run_many(args.name, inputs, **options)
            except Stop:
                pass
            signals.settled = True  # from here on, a signal waits for the results to be written
            usage = client.usage if results is None else results.usage
        output.finish()
    lines = collector.ordered()
    estimate = None if results is None else results.estimate
    text, status = summary(
        lines, total=len(inputs), usage=usage, estimate=estimate, limit=args.max_credits
    )
    if signals.first is not None and results is None:
        err.write(f"\nknouds: interrupted ({signal_name(signals.first)}): {text}\n")
        err.write(_stopped_text(len(lines), args, shown))
        return SIGNAL_EXIT.get(signals.first, 130)
    err.write(f"knouds: {text}\n")
    if status == 13:
        err.write(unknown_advice(shown))
    if status == 14:
        err.write(
            "knouds: the credit limit stopped the batch before every input started; --max-credits "
            "caps what one run of the command spends. "
            + (
                "Run the same command again to go on: completed inputs come from the journal "
                "and spend nothing.\n"
                if shown
                else "There is no journal: running the command again sends every input again, "
                "and pays again.\n"
            )
        )
    return status


def _where(args: argparse.Namespace) -> str:
    return "stdout" if args.out is None else str(args.out)


def _stopped_text(ended: int, args: argparse.Namespace, journal: str | None) -> str:
    written = f"the results of the {ended} inputs that ended are written to {_where(args)}"
    if journal is None:
        return (
            f"knouds: runs in flight finished; {written}. There is no journal: running the same "
            "command again sends every input again, and pays again.\n"
        )
    return (
        f"knouds: runs in flight finished; the journal {journal} keeps how each ended (a run it "
        "could not record is logged above and counts as an unknown outcome next time); "
        f"{written}. Run the same command again to resume: what completed comes from the "
        "journal.\n"
    )


def _leave_now(signum: int, say: Callable[[], None]) -> None:
    """A second signal: ``say`` what ended and what happens to the runs in flight, and leave at
    once (the worker threads still running them would otherwise hold the process). It leaves
    whatever the saying does: a closed stderr (a pipe whose reader died of the same Ctrl-C)
    must not keep the process waiting for the runs."""
    try:
        say()
    finally:
        os._exit(SIGNAL_EXIT.get(signum, 130))


def _say_left(
    signum: int,
    collector: Collector,
    output: ResultsOutput,
    usage: knouds.Usage,
    args: argparse.Namespace,
    journal: str | None,
    err: TextIO,
) -> None:
    """Write what ended and say what happens to the runs in flight, as far as stderr lets."""
    try:
        output.finish()
    except OSError as exc:
        partial = partial_path(args.out) if args.out else None
        with contextlib.suppress(Exception):
            err.write(f"\nknouds: could not write the results ({exc}); see {partial}\n")
    lines = collector.ordered()
    text, _ = summary(
        lines,
        total=collector.total,
        usage=usage,
        estimate=None,
        limit=args.max_credits,
        pending="without a result (abandoned in flight, or not started)",
    )
    fate = (
        f"the journal {journal} keeps them as started: the next run of this command reports "
        f"them as unknown outcomes (`knouds journal list {journal} --state unknown`)"
        if journal is not None
        else "there is no journal, so nothing records them"
    )
    with contextlib.suppress(Exception):  # stderr closed or busy: leave all the same
        err.write(
            f"\nknouds: interrupted again ({signal_name(signum)}): left without waiting for the "
            f"runs in flight. Knouds may still run and charge them, and their results are lost; "
            f"{fate}. The results of the {len(lines)} inputs that ended are written to "
            f"{_where(args)}.\nknouds: {text}\n"
        )
        err.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()


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
        help="the run journal: a SQLite file or a redis:// URL (default: INPUTS.journal.sqlite; "
        "none for stdin)",
    )
    batch.add_argument("--no-journal", action="store_true", help="do not record runs")
    batch.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        action=CheckedValue,
        check=at_least_one,
        help="runs in flight (default 8)",
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
    batch.add_argument(
        "--out",
        metavar="FILE",
        help="write the results here, in input order (default: stdout); FILE.partial holds "
        "them while the batch runs",
    )
    batch.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        action=CheckedValue,
        check=seconds,
        help="seconds per attempt",
    )
    batch.add_argument(
        "--max-credits",
        type=float,
        metavar="N",
        action=CheckedValue,
        check=credits_amount,
        help="spend at most N credits in this run; a workflow batch estimated above it is refused",
    )
    return batch
