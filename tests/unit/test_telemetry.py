"""OpenTelemetry traces and metrics of every call, for both clients, with the real SDK and its
in-memory exporter and reader (fake time: nothing sleeps for real)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import knouds
from tests.conftest import FakeTime, rate_headers, resolve, script

ROOT = Path(__file__).resolve().parents[2]
CANARY_KEY = "kn_live_CANARYc4n4ry0123456789abcdefXYZ"
SECRET_INPUT = "a-secret-prompt-7f3a"
SECRET_OUTPUT = "https://cdn.test/secret-output-9c1d.png"
OK = {"success": True, "result": {"images": [SECRET_OUTPUT]}, "cost": 4, "ms": 5}
NO_JITTER = knouds.RetryPolicy(jitter=False)


@dataclass
class Otel:
    """A tracer and a meter provider of the SDK, with what they exported."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if "gen_ai.operation.name" in (s.attributes or {})]

    def attempts(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if "http.request.method" in (s.attributes or {})]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """Metric name -> [(attributes, value or count)]."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], float]]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # type: ignore[union-attr]
                        points.append((dict(point.attributes or {}), value))
        return found

    def dump(self) -> str:
        """Every exported span (attributes, events, status) and metric, as text."""
        spans = [s.to_json() for s in self.finished()]
        data = self.reader.get_metrics_data()
        return "\n".join(spans) + (data.to_json() if data is not None else "")


@pytest.fixture
def otel() -> Iterator[Otel]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(spans, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def ok(headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=OK, headers=headers)


def limited(retry_after: str = "2") -> httpx.Response:
    body = {"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"}
    return httpx.Response(429, json=body, headers={"retry-after": retry_after})


async def test_a_run_is_one_client_span_with_an_attempt_span_under_the_callers_span(
    make_client: Any, otel: Otel
) -> None:
    handler, _ = script(ok(rate_headers(10, 7, 1_700_000_060)))
    client = make_client(handler, **otel.kwargs)
    tracer = otel.tracer_provider.get_tracer("app")

    with tracer.start_as_current_span("handle request") as app:
        await resolve(client.models.run("gpt-image-2", {"prompt": SECRET_INPUT}))

    (call,) = otel.calls()
    (attempt,) = otel.attempts()
    assert call.name == "generate_content gpt-image-2"
    assert call.kind is SpanKind.CLIENT
    assert parent_id(call) == app.get_span_context().span_id
    assert dict(call.attributes or {}) == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "knouds",
        "gen_ai.request.model": "gpt-image-2",
        "knouds.cost": 4,
        "knouds.rate_limit.remaining": 7,
        "knouds.journal.hit": False,
    }
    assert attempt.kind is SpanKind.CLIENT
    assert parent_id(attempt) == call.context.span_id
    assert dict(attempt.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "api.example.test",
        "server.port": 443,
        "url.path": "/api/models/gpt-image-2/run",
        "http.response.status_code": 200,
    }
    metrics = otel.metrics()
    model = {"gen_ai.operation.name": "generate_content", "gen_ai.request.model": "gpt-image-2"}
    assert metrics["gen_ai.client.operation.duration"] == [(model, 1)]
    assert metrics["knouds.credits"] == [(model, 4)]
    assert metrics["knouds.runs"] == [({**model, "knouds.outcome": "completed"}, 1)]


async def test_a_429_then_200_run_has_two_attempts_and_a_retry_event(
    make_client: Any, otel: Otel, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("2"), ok())
    client = make_client(handler, retry=NO_JITTER, **otel.kwargs)

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert len(seen) == 2
    (call,) = otel.calls()
    first, second = sorted(otel.attempts(), key=lambda s: s.start_time or 0)
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["http.response.status_code"] == 429
    assert first.attributes["error.type"] == "429"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert call.status.status_code is StatusCode.UNSET
    (event,) = call.events
    assert event.name == "knouds.retry"
    assert dict(event.attributes or {}) == {
        "knouds.wait.reason": "retry",
        "knouds.wait.seconds": 2.0,
        "knouds.retry.reason": "rate_limited",
    }
    (retries,) = otel.metrics()["knouds.retries"]
    assert retries[0]["knouds.retry.reason"] == "rate_limited"
    assert retries[1] == 1


async def test_a_paced_run_has_a_pacing_event_and_a_pacing_wait(
    make_client: Any, otel: Otel, fake_time: FakeTime
) -> None:
    handler, _ = script(ok(rate_headers(1, 0, fake_time.now + 3)), ok())
    client = make_client(handler, **otel.kwargs)

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    _, paced = sorted(otel.calls(), key=lambda s: s.start_time or 0)
    pacing = [e for e in paced.events if e.name == "knouds.pacing"]
    assert pacing
    assert pacing[0].attributes is not None
    assert pacing[0].attributes["knouds.wait.reason"] == "pacing"
    assert float(pacing[0].attributes["knouds.wait.seconds"]) > 0  # type: ignore[arg-type]
    (waits,) = otel.metrics()["knouds.pacing.wait"]
    assert waits[0]["gen_ai.request.model"] == "gpt-image-2"


@pytest.mark.parametrize(
    ("answer", "error", "outcome"),
    [
        (400, "InvalidInputsError", "failed"),
        (500, "InternalServerError", "unknown"),  # a 5xx may have run: the outcome is unknown
    ],
)
async def test_a_failed_run_has_an_error_status_and_the_exception_class(
    make_client: Any, otel: Otel, answer: int, error: str, outcome: str
) -> None:
    body = {"error": "bad", "code": "INVALID_INPUTS"} if answer == 400 else {"error": "boom"}
    handler, _ = script(httpx.Response(answer, json=body))
    client = make_client(handler, **otel.kwargs)

    with pytest.raises(knouds.APIStatusError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    (call,) = otel.calls()
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == error
    metrics = otel.metrics()
    (runs,) = metrics["knouds.runs"]
    assert runs[0]["knouds.outcome"] == outcome
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration[0]["error.type"] == error
    assert "knouds.credits" not in metrics


async def test_a_journal_hit_is_marked_and_charges_nothing(
    make_client: Any, otel: Otel, tmp_path: Path
) -> None:
    handler, seen = script(ok())
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"), **otel.kwargs)

    for _ in range(2):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}, idempotency_key="k1"))

    assert len(seen) == 1
    first, second = sorted(otel.calls(), key=lambda s: s.start_time or 0)
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["knouds.journal.hit"] is False
    assert second.attributes["knouds.journal.hit"] is True
    assert len(otel.attempts()) == 1
    metrics = otel.metrics()
    outcomes = {p[0]["knouds.outcome"]: p[1] for p in metrics["knouds.runs"]}
    assert outcomes == {"completed": 1, "from_journal": 1}
    assert [p[1] for p in metrics["knouds.credits"]] == [4]


async def test_a_budget_refusal_is_counted_and_sends_nothing(make_client: Any, otel: Otel) -> None:
    handler, seen = script(ok(), ok())
    client = make_client(handler, budget=6, **otel.kwargs)

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert len(seen) == 1
    refused = [s for s in otel.calls() if s.status.status_code is StatusCode.ERROR]
    assert len(refused) == 1
    assert refused[0].attributes is not None
    assert refused[0].attributes["error.type"] == "BudgetExceededError"
    outcomes = {p[0]["knouds.outcome"]: p[1] for p in otel.metrics()["knouds.runs"]}
    assert outcomes == {"completed": 1, "refused_by_budget": 1}


async def test_a_batch_is_the_parent_of_its_runs_with_the_counts(
    make_client: Any, otel: Otel
) -> None:
    bad = httpx.Response(400, json={"error": "bad", "code": "INVALID_INPUTS"})
    handler, _ = script(ok(), bad, ok())
    client = make_client(handler, **otel.kwargs)

    results = await resolve(
        client.models.run_many(
            "gpt-image-2",
            [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}],
            concurrency=1,
            return_exceptions=True,
        )
    )

    assert len(results) == 3
    (batch,) = [s for s in otel.finished() if s.name == "run_many gpt-image-2"]
    assert batch.attributes is not None
    assert batch.attributes["knouds.batch.size"] == 3
    assert batch.attributes["knouds.batch.completed"] == 2
    assert batch.attributes["knouds.batch.failed"] == 1
    runs = [s for s in otel.calls() if s.name == "generate_content gpt-image-2"]
    assert len(runs) == 3
    assert all(parent_id(r) == batch.context.span_id for r in runs)


async def test_telemetry_false_and_the_environment_switch_emit_nothing(
    make_client: Any, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, _ = script(ok(), ok(), ok())
    off = make_client(handler, telemetry=False, **otel.kwargs)
    await resolve(off.models.run("gpt-image-2", {"prompt": "x"}))
    await resolve(off.with_options(max_retries=1).models.run("gpt-image-2", {"prompt": "x"}))
    monkeypatch.setenv("KNOUDS_TELEMETRY", "off")
    quiet = make_client(handler, **otel.kwargs)
    await resolve(quiet.models.run("gpt-image-2", {"prompt": "x"}))

    assert otel.finished() == []
    assert otel.metrics() == {}
    assert off._telemetry is None
    assert quiet._telemetry is None


async def test_with_options_copies_report_to_the_same_providers(
    make_client: Any, otel: Otel
) -> None:
    handler, _ = script(ok())
    client = make_client(handler, **otel.kwargs)

    await resolve(client.with_options(max_retries=0).models.run("gpt-image-2", {"prompt": "x"}))

    assert [s.name for s in otel.calls()] == ["generate_content gpt-image-2"]


STEPS: dict[str, Any] = {
    "401": lambda: [
        httpx.Response(401, json={"error": f"bad key {CANARY_KEY}", "code": "INVALID_KEY"})
    ],
    "429-500": lambda: [
        limited("1"),
        httpx.Response(500, json={"error": f"{CANARY_KEY} {SECRET_INPUT}"}),
    ],
    "connect": lambda: [httpx.ConnectError(f"refused {CANARY_KEY}")],
    "timeout": lambda: [httpx.ReadTimeout(f"slow {CANARY_KEY}")],
    "400": lambda: [httpx.Response(400, json={"error": SECRET_INPUT, "code": "INVALID_INPUTS"})],
    "ok": lambda: [ok(), ok()],
}


@pytest.mark.parametrize("case", sorted(STEPS))
async def test_the_key_inputs_and_outputs_appear_nowhere(
    make_client: Any, otel: Otel, case: str, tmp_path: Path
) -> None:
    handler, _ = script(*STEPS[case](), ok())
    client = make_client(
        handler,
        api_key=CANARY_KEY,
        retry=NO_JITTER,
        budget=5,
        journal=str(tmp_path / "j.sqlite"),
        **otel.kwargs,
    )
    for _ in range(2):  # the second: a journal hit, a refusal or a stored failure
        with contextlib.suppress(knouds.KnoudsError):
            await resolve(client.models.run("gpt-image-2", {"prompt": SECRET_INPUT}))

    text = otel.dump()
    assert otel.calls()
    for secret in (CANARY_KEY, CANARY_KEY[-12:], SECRET_INPUT, SECRET_OUTPUT):
        assert secret not in text


def test_nothing_of_telemetry_is_imported_without_the_extra() -> None:
    code = """
import sys, json
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Blocker())
import httpx, knouds
def handler(request):
    return httpx.Response(200, json={"success": True, "result": None, "cost": 1, "ms": 1})
client = knouds.Client("k", base_url="https://knouds.test",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
client.models.run("gpt-image-2", {})
try:
    knouds.Client("k", telemetry=True)
except knouds.ConfigurationError as error:
    refused = "knouds[otel]" in str(error)
else:
    refused = False
print(json.dumps({"refused": refused, "loaded": sorted(
    m for m in sys.modules if m.startswith(("opentelemetry", "knouds._telemetry")))}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"refused": True, "loaded": []}


def test_importing_knouds_loads_no_telemetry() -> None:
    code = (
        "import sys, knouds; print(sorted(m for m in sys.modules "
        "if m.startswith(('opentelemetry', 'knouds._telemetry'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_a_bad_telemetry_switch_is_refused() -> None:
    with pytest.raises(knouds.ConfigurationError, match="telemetry"):
        knouds.Client("k", telemetry="yes")  # type: ignore[arg-type]


def test_without_an_sdk_calls_take_the_plain_path() -> None:
    # No test sets the global providers: they are the API's proxies, which record nothing.
    assert not trace.get_tracer_provider().get_tracer("x").start_span("y").is_recording()
    client = knouds.Client("k", base_url="https://knouds.test")
    assert client._telemetry is not None
    assert not client._telemetry.live()
    client.close()
