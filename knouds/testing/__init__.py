"""A local emulator of the Knouds REST API, for tests and offline development.

It speaks the same contract as the real service: keys of both generations, credits and trial
grants, per-key rate limits with the ``X-RateLimit-*`` headers, async executions with signed
webhooks, media URLs serving real small files, and injectable faults (proxy pages, broken bodies,
delays, dropped connections).

Example:
    >>> from knouds.testing import Emulator, Fault
    >>> with Emulator() as emu:
    ...     emu.inject(Fault.status(503), times=1)
    ...     client = knouds.Client(api_key=emu.api_key, base_url=emu.base_url)

Or serve it from the command line: ``python -m knouds.testing --port 8080``. The pytest plugin
provides the ``knouds_emulator``, ``knouds_client`` and ``knouds_async_client`` fixtures.

For unit tests that mock HTTP (respx, ``httpx.MockTransport``), ``knouds.testing.responses``
builds the same answers as ``httpx.Response`` objects, without loading the emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knouds.testing import responses
    from knouds.testing._clock import ManualClock
    from knouds.testing._emulator import Emulator
    from knouds.testing._faults import Fault
    from knouds.testing._serve import serve
    from knouds.testing._state import LoggedRequest
    from knouds.testing._transport import EmulatorTransport
    from knouds.testing._webhooks import WebhookDelivery

# Loaded on first use: `from knouds.testing import responses` must not pay for the server.
_LAZY: dict[str, str] = {
    "Emulator": "knouds.testing._emulator",
    "EmulatorTransport": "knouds.testing._transport",
    "Fault": "knouds.testing._faults",
    "LoggedRequest": "knouds.testing._state",
    "ManualClock": "knouds.testing._clock",
    "WebhookDelivery": "knouds.testing._webhooks",
    "responses": "knouds.testing.responses",
    "serve": "knouds.testing._serve",
}

__all__ = [
    "Emulator",
    "EmulatorTransport",
    "Fault",
    "LoggedRequest",
    "ManualClock",
    "WebhookDelivery",
    "responses",
    "serve",
]


if not TYPE_CHECKING:
    # Hidden from type checkers: they see only the imports above, so a misspelled name is an
    # error in user code instead of a silent ``Any``.

    def __getattr__(name: str) -> object:
        module_name = _LAZY.get(name)
        if module_name is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
