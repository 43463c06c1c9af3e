"""pytest fixtures for the Knouds emulator, registered as the ``knouds`` pytest plugin.

Fixtures:
    knouds_emulator: A started `knouds.testing.Emulator`, stopped after the test.
    knouds_client: A `knouds.Client` pointed at that emulator, closed after the test.
    knouds_async_client: A `knouds.AsyncClient` pointed at it, closed after the test
        (needs pytest-asyncio; the test is skipped without it).

pytest loads this module in every session of every project where knouds is installed, so it
imports nothing but pytest at start-up: the emulator, httpx and the clients load only in a test
that asks for a fixture.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import knouds
    from knouds.testing import Emulator

__all__ = ["knouds_async_client", "knouds_client", "knouds_emulator"]

_HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


@pytest.fixture
def knouds_emulator() -> Iterator[Emulator]:
    """A running emulator for one test."""
    from knouds.testing import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def knouds_client(knouds_emulator: Emulator) -> Iterator[knouds.Client]:
    """A `knouds.Client` talking to ``knouds_emulator`` with its default key (pacing in this
    process, whatever ``KNOUDS_RATE_LIMIT_STORE`` says)."""
    import knouds

    with knouds.Client(
        api_key=knouds_emulator.api_key,
        base_url=knouds_emulator.base_url,
        rate_limit_store="local",  # never the application's shared store
    ) as client:
        yield client


async def _async_client(emulator: Emulator) -> AsyncIterator[knouds.AsyncClient]:
    import knouds

    async with knouds.AsyncClient(
        api_key=emulator.api_key, base_url=emulator.base_url, rate_limit_store="local"
    ) as client:
        yield client


if _HAS_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def knouds_async_client(knouds_emulator: Emulator) -> AsyncIterator[knouds.AsyncClient]:
        """A `knouds.AsyncClient` talking to ``knouds_emulator``, closed after the test."""
        async for client in _async_client(knouds_emulator):
            yield client

else:  # pragma: no cover - depends on the environment

    @pytest.fixture
    def knouds_async_client(knouds_emulator: Emulator) -> None:
        """Skips: the async client fixture needs pytest-asyncio."""
        pytest.skip("knouds_async_client needs pytest-asyncio")
