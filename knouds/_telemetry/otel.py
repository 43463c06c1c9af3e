"""The OpenTelemetry observer: a `Telemetry` per client (shared by its ``with_options`` copies),
a `CallWatch` per public call, a `BatchWatch` per ``run_many``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import httpx
from opentelemetry import context, metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._exceptions import BudgetExceededError
from .._version import __version__
from ..models import Execution, RunResult

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from .._core.attempt import CallContext, Send, Sleep

__all__ = ["BatchWatch", "CallWatch", "Telemetry"]

PROVIDER = "knouds"
# Runs and submissions: counted in knouds.runs.
_RUNS = frozenset({"generate_content", "run_workflow", "submit"})
# What charges credits when it ends: a run, or the wait that sees a submission's result (a get
# of the same ended execution would count it twice).
_CHARGED = frozenset({"generate_content", "run_workflow", "wait"})
# The semantic conventions' advice for gen_ai.client.operation.duration.
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48]
_DURATION_BUCKETS += [40.96, 81.92, 163.84, 327.68, 655.36]
_MAX_SUBMITTED = 4096
# The API's providers when no SDK is configured: a call then records nothing, and the client runs
# its plain path (a no-op span still costs a few microseconds).
_IDLE_TRACERS: tuple[type, ...] = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
try:
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    _IDLE_METERS: tuple[type, ...] = (metrics.NoOpMeterProvider, _ProxyMeterProvider)
except ImportError:  # pragma: no cover - a release that moved it: no shortcut for metrics
    _IDLE_METERS = (metrics.NoOpMeterProvider,)


class Telemetry:
    """A client's tracer and instruments (the global providers unless given)."""

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._pinned = tracer_provider is not None or meter_provider is not None
        self.tracer = trace.get_tracer("knouds", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("knouds", __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of a knouds call, from the first command to its answer",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.credits = meter.create_counter(
            "knouds.credits", unit="{credit}", description="Credits charged, by model or workflow"
        )
        self.runs = meter.create_counter(
            "knouds.runs", unit="{run}", description="Runs and submissions, by outcome"
        )
        self.pacing_wait = meter.create_histogram(
            "knouds.pacing.wait",
            unit="s",
            description="Waits for the rate-limit window",
            explicit_bucket_boundaries_advisory=[0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        )
        self.retries = meter.create_counter(
            "knouds.retries", unit="{retry}", description="Retries, by what the attempt met"
        )
        # Execution id -> model or workflow of this client's submissions, so that the wait that
        # sees their result names it (and counts its credits under it).
        self.submitted: dict[str, str] = {}

    def live(self) -> bool:
        """Whether a call records anything: a provider was given, or an SDK set the global ones
        (looked up per call: the application may configure its SDK after building the client)."""
        if self._pinned:
            return True
        return not isinstance(trace.get_tracer_provider(), _IDLE_TRACERS) or not isinstance(
            metrics.get_meter_provider(), _IDLE_METERS
        )

    def watch(self, ctx: CallContext) -> CallWatch | None:
        """Start the span of one public call (made current until `CallWatch.end`), or ``None``
        when nothing would record it."""
        if not self.live():
            return None
        endpoint = ctx.endpoint
        target = endpoint.target
        execution_id = None
        if target is None and endpoint.bucket == "executions":
            execution_id = endpoint.path.split("/")[3]
        return CallWatch(self, endpoint.operation(), target, execution_id)

    def watch_wait(self, execution_id: str) -> CallWatch | None:
        """Start the span of ``executions.wait`` (its polls report their attempts to it)."""
        if not self.live():
            return None
        return CallWatch(self, "wait", self.submitted.pop(execution_id, None), execution_id)

    def watch_batch(self, operation: str, target: str, size: int) -> BatchWatch | None:
        """Start the span of a batch (``run_many``), the parent of its runs."""
        if not self.live():
            return None
        return BatchWatch(self, operation, target, size)


class CallWatch:
    """The span and measures of one public call; the driver reports its attempts and waits."""

    __slots__ = ("_started", "_telemetry", "_token", "base", "execution_id", "operation", "span")

    def __init__(
        self, telemetry: Telemetry, operation: str, target: str | None, execution_id: str | None
    ) -> None:
        self._telemetry = telemetry
        self.operation = operation
        self.execution_id = execution_id
        base: dict[str, Any] = {"gen_ai.operation.name": operation}
        if target is not None:
            base["gen_ai.request.model"] = target
        self.base = base
        attributes = {**base, "gen_ai.provider.name": PROVIDER}
        if execution_id is not None:
            attributes["knouds.execution.id"] = execution_id
        name = operation if target is None else f"{operation} {target}"
        self.span: Span = telemetry.tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        )
        self._token = context.attach(trace.set_span_in_context(self.span))
        self._started = time.perf_counter()

    # -- what the driver reports ----------------------------------------------------------------

    def send_started(self, send: Send) -> object:
        request = send.request
        url = request.url
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.path": url.path,
        }
        if send.attempt > 1:
            attributes["http.request.resend_count"] = send.attempt - 1
        span = self._telemetry.tracer.start_span(
            request.method, kind=SpanKind.CLIENT, attributes=attributes
        )
        return span, context.attach(trace.set_span_in_context(span))

    def send_ended(self, handle: object, outcome: object) -> None:
        span, token = cast("tuple[Span, Token[Context]]", handle)
        context.detach(token)
        response = (
            getattr(outcome, "response", None)
            if not isinstance(outcome, httpx.Response)
            else outcome
        )
        if isinstance(response, httpx.Response):
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
        if isinstance(outcome, BaseException):
            span.set_attribute("error.type", type(outcome).__name__)
            span.set_status(Status(StatusCode.ERROR))
        elif not isinstance(outcome, httpx.Response) and outcome is not None:
            span.set_attribute("error.type", type(outcome).__name__)  # a body past the cap
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def slept(self, sleep: Sleep) -> None:
        telemetry = self._telemetry
        attributes: dict[str, Any] = {
            "knouds.wait.reason": sleep.reason,
            "knouds.wait.seconds": sleep.seconds,
        }
        if sleep.cause is not None:
            attributes["knouds.retry.reason"] = sleep.cause
        self.span.add_event(f"knouds.{sleep.reason}", attributes)
        if sleep.reason == "pacing":
            telemetry.pacing_wait.record(sleep.seconds, self.base)
        elif sleep.reason == "retry":
            telemetry.retries.add(1, {**self.base, "knouds.retry.reason": sleep.cause or "other"})

    # -- the end of the call --------------------------------------------------------------------

    def end(self, value: object = None, error: BaseException | None = None) -> None:
        """Record how the call ended, end its span and make its parent current again."""
        telemetry = self._telemetry
        span = self.span
        measures = self.base
        hit = False
        cost = None
        try:
            if error is None:
                if isinstance(value, (RunResult, Execution)):
                    cost = value.cost
                    rate_limit = value.rate_limit
                    if rate_limit is not None and rate_limit.remaining is not None:
                        span.set_attribute("knouds.rate_limit.remaining", rate_limit.remaining)
                if isinstance(value, RunResult):
                    hit = value.from_journal
                    span.set_attribute("knouds.journal.hit", hit)
                    outcome = "from_journal" if hit else "completed"
                elif isinstance(value, Execution):
                    span.set_attribute("knouds.execution.id", value.id)
                    target = self.base.get("gen_ai.request.model")
                    if self.operation == "submit" and target is not None:
                        if len(telemetry.submitted) >= _MAX_SUBMITTED:
                            telemetry.submitted.clear()
                        telemetry.submitted[value.id] = target
                    outcome = "submitted" if self.operation == "submit" else "completed"
                else:
                    outcome = "completed"
                if cost is not None:
                    span.set_attribute("knouds.cost", cost)
            else:
                kind = type(error).__name__
                span.set_attribute("error.type", kind)
                code = getattr(error, "code", None)
                span.set_status(Status(StatusCode.ERROR, code if isinstance(code, str) else None))
                measures = {**measures, "error.type": kind}
                if isinstance(error, BudgetExceededError):
                    outcome = "refused_by_budget"
                elif getattr(error, "_verdict", None) == "unknown":
                    outcome = "unknown"
                else:
                    outcome = "failed"
            telemetry.duration.record(time.perf_counter() - self._started, measures)
            if self.operation in _RUNS:
                telemetry.runs.add(1, {**self.base, "knouds.outcome": outcome})
            if cost and not hit and self.operation in _CHARGED:
                telemetry.credits.add(cost, self.base)
        finally:
            context.detach(self._token)
            span.end()


class BatchWatch:
    """The span of one batch: the parent of its runs, with their counts."""

    __slots__ = ("_token", "span")

    def __init__(self, telemetry: Telemetry, operation: str, target: str, size: int) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": target,
            "knouds.batch.size": size,
        }
        self.span: Span = telemetry.tracer.start_span(
            f"{operation} {target}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        self._token = context.attach(trace.set_span_in_context(self.span))

    def end(self, outcomes: list[Any] | None = None, error: BaseException | None = None) -> None:
        """Record the counts of the batch's outcomes, end its span."""
        span = self.span
        try:
            if outcomes is not None:
                results = [o for o in outcomes if isinstance(o, RunResult)]
                span.set_attribute("knouds.batch.completed", len(results))
                span.set_attribute("knouds.batch.failed", len(outcomes) - len(results))
                span.set_attribute(
                    "knouds.batch.from_journal", sum(1 for r in results if r.from_journal)
                )
                span.set_attribute("knouds.cost", sum(r.cost or 0 for r in results))
            if error is not None:
                span.set_attribute("error.type", type(error).__name__)
                span.set_status(Status(StatusCode.ERROR))
        finally:
            context.detach(self._token)
            span.end()
