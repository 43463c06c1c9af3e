"""Telemetry against the emulator over real sockets, for both clients: a retried run, a
submission and its wait, a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from knouds.testing import Emulator, Fault
from tests.conftest import resolve


async def test_spans_of_runs_waits_and_batches(connect: Callable[..., Any], emu: Emulator) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    client = connect(
        emu,
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    emu.inject(Fault.rate_limited(retry_after=0.05), times=1)

    await resolve(client.models.run("gpt-image-2", {"prompt": "a fox"}))
    execution = await resolve(client.models.submit("gpt-image-2", {"prompt": "a whale"}))
    await resolve(client.executions.wait(execution, poll_interval=0.02))
    await resolve(client.models.run_many("gpt-image-2", [{"prompt": "a"}, {"prompt": "b"}]))

    finished = spans.get_finished_spans()
    names = [s.name for s in finished]
    assert names.count("generate_content gpt-image-2") == 3
    assert "submit gpt-image-2" in names
    assert "wait gpt-image-2" in names
    assert "run_many gpt-image-2" in names
    resent = [s for s in finished if (s.attributes or {}).get("http.request.resend_count") == 1]
    assert len(resent) == 1
    wait = next(s for s in finished if s.name == "wait gpt-image-2")
    assert (wait.attributes or {})["knouds.execution.id"] == execution.id
    data = reader.get_metrics_data()
    assert data is not None
    credits = [
        m
        for r in data.resource_metrics
        for sc in r.scope_metrics
        for m in sc.metrics
        if m.name == "knouds.credits"
    ]
    points: list[Any] = list(credits[0].data.data_points)
    assert sum(p.value for p in points) > 0
    tracer_provider.shutdown()
