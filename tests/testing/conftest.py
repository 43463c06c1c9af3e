"""Fixtures for the emulator tests: a manual clock, an emulator, clients over both paths."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from knouds.testing import Emulator, ManualClock

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
