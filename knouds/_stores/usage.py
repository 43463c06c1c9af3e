"""``client.usage`` and a batch's results: credits charged, runs, grant-paid runs, by name."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .._public import publish

if TYPE_CHECKING:
    from .._exceptions import KnoudsError
    from ..models import RunResult

__all__ = ["BatchResults", "Usage", "UsageLine", "UsageRecorder"]

_HTML_ROWS = 50  # a notebook cell showing thousands of previews helps nobody


@dataclass(frozen=True)
class UsageLine:
    """What one model or workflow cost.

    Attributes:
        credits: credits charged (the sum of the results' ``cost``).
        runs: runs that returned a result.
        grant_runs: of those, runs a trial grant paid (``cost`` 0).
        unconfirmed_runs: runs that may have reached Knouds but whose outcome is unknown (a read
            timeout, a server error); the credit budget counts their expected cost, ``credits``
            does not.
    """

    credits: float = 0.0
    runs: int = 0
    grant_runs: int = 0
    unconfirmed_runs: int = 0


@dataclass(frozen=True)
class Usage:
    """Credits charged and runs made through a client (and its ``with_options`` copies) since it
    was created, or through one batch.

    Attributes:
        credits: credits charged in total.
        runs: runs that returned a result.
        grant_runs: of those, runs paid by a trial grant.
        unconfirmed_runs: runs with an unknown outcome (see `UsageLine`).
        by_model: a `UsageLine` per model name.
        by_workflow: a `UsageLine` per workflow slug.
        since: when counting started (UTC).

    Example:
        >>> print(client.usage)  # doctest: +SKIP
        12 credits, 3 runs (0 paid by a trial grant)
          model gpt-image-2: 12 credits, 3 runs
    """

    by_model: dict[str, UsageLine] = field(default_factory=dict)
    by_workflow: dict[str, UsageLine] = field(default_factory=dict)
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def _lines(self) -> list[tuple[str, str, UsageLine]]:
        return [("model", n, line) for n, line in sorted(self.by_model.items())] + [
            ("workflow", n, line) for n, line in sorted(self.by_workflow.items())
        ]

    @property
    def credits(self) -> float:
        """Credits charged in total."""
        return sum(line.credits for _, _, line in self._lines())

    @property
    def runs(self) -> int:
        """Runs that returned a result."""
        return sum(line.runs for _, _, line in self._lines())

    @property
    def grant_runs(self) -> int:
        """Runs paid by a trial grant."""
        return sum(line.grant_runs for _, _, line in self._lines())

    @property
    def unconfirmed_runs(self) -> int:
        """Runs whose outcome is unknown."""
        return sum(line.unconfirmed_runs for _, _, line in self._lines())

    def __str__(self) -> str:
        lines = [
            f"{self.credits:g} credits, {self.runs} runs "
            f"({self.grant_runs} paid by a trial grant)"
            + (f", {self.unconfirmed_runs} with unknown outcome" if self.unconfirmed_runs else "")
        ]
        for kind, name, line in self._lines():
            lines.append(f"  {kind} {name}: {line.credits:g} credits, {line.runs} runs")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return usage_html(self)


def usage_html(usage: Usage) -> str:
    """An HTML table of a usage report, for notebooks."""
    head = "".join(
        f'<th style="text-align:left">{h}</th>'
        for h in ("", "name", "credits", "runs", "grant-paid", "unknown outcome")
    )
    rows = [("model", name, line) for name, line in sorted(usage.by_model.items())] + [
        ("workflow", name, line) for name, line in sorted(usage.by_workflow.items())
    ]
    total = UsageLine(usage.credits, usage.runs, usage.grant_runs, usage.unconfirmed_runs)
    body = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{html.escape(name)}</td><td>{line.credits:g}</td>"
        f"<td>{line.runs}</td><td>{line.grant_runs}</td><td>{line.unconfirmed_runs}</td></tr>"
        for kind, name, line in [*rows, ("", "total", total)]
    )
    return f'<table class="knouds-usage"><tr>{head}</tr>{body}</table>'


class UsageRecorder:
    """Thread-safe counting behind `Usage` snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = datetime.now(timezone.utc)
        # (kind, name) -> [credits, runs, grant runs, unconfirmed runs]; counted on every run,
        # so plain lists rather than new objects.
        self._counts: dict[tuple[str, str], list[float]] = {}

    def record(self, kind: str, name: str, cost: float | None, *, confirmed: bool = True) -> None:
        """Count one run's outcome: a result (``confirmed``) or an unknown outcome."""
        with self._lock:
            counts = self._counts.get((kind, name))
            if counts is None:
                counts = self._counts[(kind, name)] = [0.0, 0, 0, 0]
            if not confirmed:
                counts[3] += 1
            elif cost:
                counts[0] += cost
                counts[1] += 1
            else:
                counts[1] += 1
                counts[2] += 1

    def snapshot(self) -> Usage:
        """The counts so far."""
        with self._lock:
            items = [
                (key, UsageLine(c[0], int(c[1]), int(c[2]), int(c[3])))
                for key, c in self._counts.items()
            ]
        return Usage(
            by_model={name: line for (kind, name), line in items if kind == "model"},
            by_workflow={name: line for (kind, name), line in items if kind == "workflow"},
            since=self._since,
        )


class BatchResults(list["RunResult | KnoudsError"]):
    """What ``run_many`` returns: a list with one `RunResult` or error per input, in input order,
    plus what the batch cost.

    Attributes:
        usage: the `Usage` of this batch alone.
        estimate: the estimated total in credits published before the batch started, or ``None``.
    """

    usage: Usage
    estimate: float | None

    def __init__(
        self,
        outcomes: list[RunResult | KnoudsError],
        *,
        usage: Usage | None = None,
        estimate: float | None = None,
    ) -> None:
        super().__init__(outcomes)
        self.usage = usage if usage is not None else Usage()
        self.estimate = estimate

    def summary(self) -> str:
        """One line: runs that succeeded and failed, credits charged, and the estimate if any."""
        from .._exceptions import KnoudsError

        failed = sum(1 for outcome in self if isinstance(outcome, KnoudsError))
        text = (
            f"{len(self) - failed} succeeded, {failed} failed; "
            f"{self.usage.credits:g} credits charged"
        )
        if self.usage.grant_runs:
            text += f" ({self.usage.grant_runs} runs paid by a trial grant)"
        if self.estimate is not None:
            text += f"; estimated {self.estimate:g}"
        return text

    def _repr_html_(self) -> str:
        from .._exceptions import KnoudsError
        from .._media.display import media_html

        cells = []
        for index, outcome in enumerate(self[:_HTML_ROWS]):
            if isinstance(outcome, KnoudsError):
                what = f"<code>{html.escape(type(outcome).__name__)}</code>: "
                what += html.escape(str(outcome))
                cost = ""
            else:
                what = "".join(media_html(m) for m in outcome.media[:1])
                text = outcome.text
                if not what and text is not None:
                    what = html.escape(text[:200])
                cost = "" if outcome.cost is None else f"{outcome.cost:g}"
            cells.append(f"<tr><td>{index}</td><td>{what}</td><td>{cost}</td></tr>")
        if len(self) > _HTML_ROWS:
            cells.append(f'<tr><td colspan="3">… {len(self) - _HTML_ROWS} more</td></tr>')
        table = (
            '<table class="knouds-batch"><tr><th>#</th><th>outcome</th><th>credits</th></tr>'
            + "".join(cells)
            + "</table>"
        )
        summary = f"<p>{html.escape(self.summary())}</p>"
        return f'<div class="knouds-batch-results">{summary}{table}{usage_html(self.usage)}</div>'


publish(globals())
