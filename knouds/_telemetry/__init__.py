"""OpenTelemetry traces and metrics of a client's calls (imported only with telemetry on and the
``opentelemetry-api`` package installed; see ``knouds/_base/observe.py``).

One span per public call (kind CLIENT, ``"{operation} {model}"``), a child span per HTTP attempt,
span events for pacing waits and retries, and five instruments. Only the facts of a call are
recorded: never the API key, the inputs, the outputs or an error's message (which may quote the
inputs); an error is told by its class and its code.
"""

from __future__ import annotations

from .otel import BatchWatch, CallWatch, Telemetry

__all__ = ["BatchWatch", "CallWatch", "Telemetry"]
