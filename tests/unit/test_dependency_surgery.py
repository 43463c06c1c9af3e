"""The SDK's surgery on its own httpx clients fails safe: a httpcore whose private planning step
is not the one the lean pool was tested against keeps its stock pool (and calls work), and a
programming error raised inside the SDK's own send path is surfaced as the bug it is, never as
a connection that broke after the request may have been processed. Both clients."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
import pytest

import knouds
from knouds._transports import surgery
from knouds.testing import Emulator
from tests.conftest import resolve


@pytest.fixture
def emu() -> Any:
    with Emulator() as emulator:
        yield emulator


def _pool_of(client: Any) -> Any:
    transport = client._http._transport
    return transport._pool


async def test_an_untested_httpcore_pool_keeps_its_own_planning(
    client_kind: str, emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_class = httpcore.ConnectionPool if client_kind == "sync" else httpcore.AsyncConnectionPool

    original = pool_class._assign_requests_to_connections

    def rewritten(self: Any) -> list[Any]:  # a new release's planning step
        closing: list[Any] = original(self)
        return closing

    monkeypatch.setattr(pool_class, "_assign_requests_to_connections", rewritten)
    monkeypatch.setattr(surgery, "_planning_checked", {})
    cls = knouds.Client if client_kind == "sync" else knouds.AsyncClient
    client = cls(api_key=emu.api_key, base_url=emu.base_url)
    try:
        assert type(_pool_of(client)) is pool_class  # the stock pool, untouched
        result = await resolve(client.models.run("gpt-image-2", {"prompt": "a fox"}))
        assert result.images
    finally:
        await resolve(client.close())


async def test_the_tested_httpcore_gets_the_lean_pool(client_kind: str, emu: Any) -> None:
    pool_class = httpcore.ConnectionPool if client_kind == "sync" else httpcore.AsyncConnectionPool
    cls = knouds.Client if client_kind == "sync" else knouds.AsyncClient
    client = cls(api_key=emu.api_key, base_url=emu.base_url)
    try:
        lean = type(_pool_of(client)).__name__.startswith("Lean")
        # The release the SDK was tested with (the one CI installs) gets the lean pool.
        assert lean == surgery.planning_tested(pool_class)
        assert lean or httpcore.__version__ != "1.0.9"
    finally:
        await resolve(client.close())


async def test_a_bug_in_the_sdks_send_path_is_not_an_unknown_outcome(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A planted bug: the body reader's own code now fails (a TypeError raised in the SDK).
    monkeypatch.setattr("knouds._transports.deadline.BOUNDED_ENCODINGS", None)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True})

    client = make_client(handler, journal=None)
    with pytest.raises(TypeError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert len(seen) == 1  # sent, but the failure is reported as the bug it is


async def test_a_transport_failure_is_still_a_connection_error(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed", request=request)

    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.APIConnectionError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
