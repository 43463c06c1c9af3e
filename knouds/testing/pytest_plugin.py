"""pytest fixtures for the Knouds emulator, registered as the ``knouds`` pytest plugin.

Fixtures:
    knouds_emulator: A started ``Emulator``, stopped after the test.
    knouds_client: A ``knouds.Client`` pointed at that emulator, closed after the test.
    knouds_async_client: A ``knouds.AsyncClient`` pointed at it, closed after the test
        (needs pytest-asyncio; the test is skipped without it).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from knouds.testing._emulator import Emulator

_HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


@pytest.fixture
def knouds_emulator() -> Iterator[Emulator]:
    """A running emulator for one test."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def knouds_client(knouds_emulator: Emulator) -> Iterator[Any]:
    """A ``knouds.Client`` talking to ``knouds_emulator`` with its all-capability key."""
    knouds = importlib.import_module("knouds")
    client = knouds.Client(api_key=knouds_emulator.api_key, base_url=knouds_emulator.base_url)
    try:
        yield client
    finally:
        client.close()


async def _async_client(emulator: Emulator) -> AsyncIterator[Any]:
    knouds = importlib.import_module("knouds")
    client = knouds.AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url)
    try:
        yield client
    finally:
        await client.aclose()


if _HAS_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def knouds_async_client(knouds_emulator: Emulator) -> AsyncIterator[Any]:
        """A ``knouds.AsyncClient`` talking to ``knouds_emulator``, closed after the test."""
        async for client in _async_client(knouds_emulator):
            yield client

else:  # pragma: no cover - depends on the environment

    @pytest.fixture
    def knouds_async_client(knouds_emulator: Emulator) -> Any:
        """Skips: the async client fixture needs pytest-asyncio."""
        pytest.skip("knouds_async_client needs pytest-asyncio")
