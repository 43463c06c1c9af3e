"""Whether a client reports telemetry, and what its driver tells the observer of a call.

The OpenTelemetry observer lives in ``knouds/_telemetry`` and is imported only when a client is
built with telemetry on and the ``opentelemetry-api`` package (``pip install "knouds[otel]"``) is
installed: without it, or with ``telemetry=False`` / ``KNOUDS_TELEMETRY=off``, nothing is imported
and the driver runs its plain path (``observer is None``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from .._exceptions import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .._core.attempt import Send, Sleep
    from .._telemetry import Telemetry

__all__ = ["CallObserver", "build_telemetry", "telemetry_available"]

_OFF = frozenset({"0", "off", "false", "no", "none", "disabled"})
_available: bool | None = None


class CallObserver(Protocol):
    """What the driver reports while it performs a call's commands."""

    def send_started(self, send: Send) -> object:
        """An attempt starts (returns a handle for `send_ended`)."""
        ...

    def send_ended(self, handle: object, outcome: object) -> None:
        """The attempt ended with ``outcome``: a response, or what the exchange raised."""
        ...

    def slept(self, sleep: Sleep) -> None:
        """The flow waits (pacing, before a retry, for a run in flight elsewhere)."""
        ...


def telemetry_available() -> bool:
    """Whether the OpenTelemetry API can be imported (checked once per process)."""
    global _available
    if _available is None:
        try:
            import opentelemetry.metrics
            import opentelemetry.trace  # noqa: F401
        except ImportError:
            _available = False
        else:
            _available = True
    return _available


def build_telemetry(
    telemetry: bool | None,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
) -> Telemetry | None:
    """A client's telemetry, or ``None`` when it reports nothing.

    ``telemetry=None`` (the default) reports when the OpenTelemetry API is installed, unless
    ``KNOUDS_TELEMETRY`` says ``off``; ``True`` insists (and refuses without the API); ``False``
    turns it off.
    """
    if telemetry is not None and not isinstance(telemetry, bool):
        raise ConfigurationError(f"telemetry must be True, False or None, got {telemetry!r}.")
    if telemetry is False:
        return None
    if telemetry is None and os.environ.get("KNOUDS_TELEMETRY", "").strip().lower() in _OFF:
        return None
    if not telemetry_available():
        if telemetry:
            raise ConfigurationError(
                "telemetry=True needs the OpenTelemetry API: pip install 'knouds[otel]'."
            )
        return None
    from .._telemetry import Telemetry

    return Telemetry(tracer_provider, meter_provider)
