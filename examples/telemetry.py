"""Traces and metrics of knouds calls with OpenTelemetry: the spans of a retried, paced run on
the console, and the metrics in Prometheus format on a loopback port.

    pip install "knouds[otel]" opentelemetry-sdk opentelemetry-exporter-prometheus
    python examples/telemetry.py

Without KNOUDS_API_KEY it runs against the local Knouds emulator, with a small rate limit (so the
third run waits for the window) and one 429 injected (so the first run is retried). With a key it
calls Knouds itself (three runs: it spends credits).
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import httpx
from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from prometheus_client import start_http_server

import knouds

MODEL = "gpt-image-2"


def setup_telemetry() -> str:
    """Configure the OpenTelemetry SDK as an application would (the global providers, which
    every knouds client reports to); returns the URL of the Prometheus endpoint."""
    resource = Resource.create({"service.name": "telemetry-example"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
    )
    server, _ = start_http_server(0, addr="127.0.0.1")  # port 0: any free port
    return f"http://127.0.0.1:{server.server_port}/metrics"


def main() -> None:
    metrics_url = setup_telemetry()
    tracer = trace.get_tracer("telemetry-example")
    with ExitStack() as stack:
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator, Fault

            emu = stack.enter_context(Emulator(rate_limit=2, window=0.5))
            emu.inject(Fault.rate_limited(retry_after=0.2), times=1)
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        client = stack.enter_context(knouds.Client())

        # The application's span: the runs' spans nest under it, each attempt under its run.
        with tracer.start_as_current_span("make thumbnails"):
            for n in range(3):  # the 1st meets the 429 and is retried, the 3rd is paced
                result = client.models.run(MODEL, {"prompt": f"a lighthouse, variation {n}"})
                print(f"run {n}: cost {result.cost}")

    # What Prometheus would scrape.
    scraped = httpx.get(metrics_url).text
    print(f"scraped {metrics_url}:")
    for line in scraped.splitlines():
        if line.startswith(("knouds_", "gen_ai_client_operation_duration")):
            print(line)


if __name__ == "__main__":
    main()
