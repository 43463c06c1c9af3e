"""Client CPU per request with telemetry off, with the OpenTelemetry API and no SDK, and with the
SDK exporting to memory, against the same call with telemetry off.

A minimal HTTP server runs in its own process (``_server.py``), so only the client's work shows in
``time.process_time()``. Each repetition runs every contender once, in alternating order (paired,
interleaved), on long-lived warm sync clients; reported are the medians over repetitions of the
CPU microseconds per request and the median of the per-repetition ratios to "off". A second "off"
client is the control: its ratio shows the noise of the machine.

    python benchmarks/telemetry.py [--reps 15] [--requests 400]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _common import INPUTS, KEY, MODEL, median, table
from _server import BenchServer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import knouds

OFF = "off (telemetry=False)"


def measure(fn: Callable[[], None]) -> float:
    """CPU seconds of ``fn()``."""
    cpu = time.process_time()
    fn()
    return time.process_time() - cpu


def section(base_url: str, reps: int, requests: int) -> str:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    clients = {
        OFF: knouds.Client(KEY, base_url=base_url, telemetry=False),
        "off, again (control)": knouds.Client(KEY, base_url=base_url, telemetry=False),
        "OpenTelemetry API, no SDK": knouds.Client(KEY, base_url=base_url),
        "SDK, in-memory exporter": knouds.Client(
            KEY, base_url=base_url, tracer_provider=tracer_provider, meter_provider=meter_provider
        ),
    }

    def runner(client: knouds.Client) -> Callable[[], None]:
        def run() -> None:
            for _ in range(requests):
                client.models.run(MODEL, INPUTS)
            spans.clear()

        return run

    contenders = {name: runner(client) for name, client in clients.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm up connections, caches and pydantic
        fn()
    for rep in range(reps):
        order = list(contenders.items())
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            samples[name].append(measure(fn) / requests * 1e6)
    for client in clients.values():
        client.close()
    base = samples[OFF]
    rows = []
    for name, values in samples.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        rows.append((name, f"{median(values):.0f}", f"{median(ratios):.3f}x"))
    head = f"Sync, sequential: {reps} paired repetitions of {requests} requests each.\n\n"
    return head + table(["telemetry", "CPU µs per request (median)", "vs off (median ratio)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="paired repetitions")
    parser.add_argument("--requests", type=int, default=400, help="requests per repetition")
    args = parser.parse_args()
    with BenchServer() as server:
        print(section(server.base_url, args.reps, args.requests))


if __name__ == "__main__":
    main()
