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
"""

from __future__ import annotations

from knouds.testing._clock import ManualClock
from knouds.testing._emulator import Emulator
from knouds.testing._faults import Fault
from knouds.testing._serve import serve
from knouds.testing._state import LoggedRequest
from knouds.testing._transport import EmulatorTransport
from knouds.testing._webhooks import WebhookDelivery

__all__ = [
    "Emulator",
    "EmulatorTransport",
    "Fault",
    "LoggedRequest",
    "ManualClock",
    "WebhookDelivery",
    "serve",
]
