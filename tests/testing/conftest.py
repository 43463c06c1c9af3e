"""Fixtures for the emulator tests: a manual clock, an emulator, clients over both paths."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

try:
    import knouds.testing  # noqa: F401
except ImportError:  # the package is not installed: test the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from knouds.testing import Emulator, ManualClock
from knouds.testing.pytest_plugin import (  # noqa: F401  (fixtures, if the plugin is not installed)
    knouds_async_client,
    knouds_client,
    knouds_emulator,
)

START = 1_700_000_040.0  # aligned to a 60-second window


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture(params=["socket", "transport"])
def http(request: pytest.FixtureRequest, emu: Emulator) -> Iterator[httpx.Client]:
    """A plain httpx client sending the all-capability key, over sockets or in-process."""
    headers = {"x-api-key": emu.api_key}
    if request.param == "socket":
        client = httpx.Client(base_url=emu.base_url, headers=headers, verify=False)
    else:
        client = httpx.Client(
            transport=emu.transport(), base_url="http://emulator.test", headers=headers
        )
    with client:
        yield client
