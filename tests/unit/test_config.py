"""Client configuration, the environment, copies, lifecycle and redaction."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, resolve


@pytest.fixture(params=[knouds.Client, knouds.AsyncClient])
def client_cls(request: pytest.FixtureRequest) -> Any:
    return request.param


def ok_handler(seen: list[httpx.Request]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "result": {"text": "hi"}})

    return handler


async def test_missing_key_names_the_variable_before_anything_is_sent(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    seen: list[httpx.Request] = []
    client = make_client(ok_handler(seen), api_key=None)
    calls: list[Callable[[], Any]] = [
        lambda: client.models.run("gpt-image-2", {"prompt": "x"}),
        lambda: client.workflows.list(),
        lambda: client.workflows.schema("my-pipeline"),
        lambda: client.executions.get("e-1"),
        lambda: client.whoami(),
    ]
    for call in calls:
        with pytest.raises(knouds.ConfigurationError, match="KNOUDS_API_KEY"):
            await resolve(call())
    assert seen == []


async def test_a_client_without_a_key_reads_public_schemas(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"fields": [{"name": "prompt"}], "name": "Demo"})

    client = make_client(handler, api_key=None)
    schema = await resolve(client.workflows.public_schema("playground-demo"))
    assert schema.field_names == ["prompt"]
    (request,) = seen
    assert request.url.path == "/api/workflows/playground-demo/public-schema"
    assert "x-api-key" not in request.headers


def test_environment_supplies_key_and_base_url(
    client_cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOUDS_API_KEY", "env-key")
    monkeypatch.setenv("KNOUDS_BASE_URL", "http://127.0.0.1:9999/prefix/")
    client = client_cls()
    assert str(client.base_url) == "http://127.0.0.1:9999/prefix"
    assert client._settings.api_key == "env-key"


def test_arguments_beat_the_environment(client_cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOUDS_API_KEY", "env-key")
    monkeypatch.setenv("KNOUDS_BASE_URL", "https://env.example")
    client = client_cls("arg-key", base_url="https://arg.example")
    assert client._settings.api_key == "arg-key"
    assert client.base_url.host == "arg.example"


def test_default_base_url(client_cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KNOUDS_BASE_URL", raising=False)
    assert str(client_cls("k").base_url) == "https://knouds.ai"


@pytest.mark.parametrize(
    "url",
    [
        "http://knouds.ai",
        "http://10.0.0.5:8000",
        "ftp://knouds.ai",
        "knouds.ai",
        "https://u:p@knouds.ai",
    ],
)
def test_insecure_or_odd_base_urls_are_refused(client_cls: Any, url: str) -> None:
    with pytest.raises(knouds.ConfigurationError):
        client_cls("k", base_url=url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8000", "http://127.0.0.1:1", "http://[::1]:80", "http://127.5.6.7"]
)
def test_plain_http_is_allowed_to_loopback(client_cls: Any, url: str) -> None:
    assert client_cls("k", base_url=url).base_url.scheme == "http"


def test_timeouts(client_cls: Any) -> None:
    default = client_cls("k").timeout
    assert default.connect == 10.0
    assert default.read == 600.0
    assert client_cls("k", timeout=30).timeout == httpx.Timeout(30.0, connect=10.0)
    assert client_cls("k", timeout=httpx.Timeout(5.0)).timeout == httpx.Timeout(5.0)
    assert client_cls("k", timeout=None).timeout == httpx.Timeout(None)
    with pytest.raises(knouds.ConfigurationError):
        client_cls("k", timeout=-1)


def test_pool_is_sized_for_many_long_runs(client_cls: Any) -> None:
    client = client_cls("k")
    pool = client._http._transport._pool
    assert pool._max_connections >= 1000


async def test_per_call_timeout_and_headers_reach_the_request(make_client: Any) -> None:
    seen: list[httpx.Request] = []
    client = make_client(ok_handler(seen), default_headers={"X-Team": "a"})
    await resolve(
        client.models.run("gpt-image-2", {}, timeout=12.5, extra_headers={"X-Trace": "t1"})
    )
    request = seen[0]
    assert request.headers["x-team"] == "a"
    assert request.headers["x-trace"] == "t1"
    assert request.headers["x-api-key"] == API_KEY
    assert request.extensions["timeout"] == {
        "connect": 10.0,
        "read": 12.5,
        "write": 12.5,
        "pool": 12.5,
    }


async def test_with_options_shares_pool_and_rate_limit_state(make_client: Any) -> None:
    seen: list[httpx.Request] = []
    client = make_client(ok_handler(seen))
    copy = client.with_options(timeout=5.0, max_retries=0, default_headers={"x-copy": "1"})
    assert copy._http is client._http
    assert copy._pacer is client._pacer
    assert copy.retry_policy.max_retries == 0
    assert client.retry_policy.max_retries == 2
    await resolve(copy.models.run("gpt-image-2", {}))
    assert seen[0].headers["x-copy"] == "1"
    other = client.with_options(api_key="another-key")
    assert other._pacer is not client._pacer
    await resolve(copy.close())
    assert not client.is_closed


def test_key_is_never_in_repr(client_cls: Any) -> None:
    client = client_cls(API_KEY)
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(client._settings)
    assert API_KEY not in str(client.__dict__.get("models"))


async def test_debug_logs_never_show_the_key(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = iter([429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(attempts)
        if status == 429:
            return httpx.Response(
                429,
                json={"error": "slow", "code": "RATE_LIMIT_EXCEEDED"},
                headers={"retry-after": "1"},
            )
        return httpx.Response(200, json={"success": True})

    caplog.set_level(logging.DEBUG)
    client = make_client(handler)
    await resolve(client.models.run("gpt-image-2", {}))
    assert "Retrying POST /api/models/gpt-image-2/run" in caplog.text
    assert API_KEY not in caplog.text


def test_sync_client_context_manager_closes() -> None:
    with knouds.Client("k") as client:
        pass
    assert client.is_closed


async def test_async_client_context_manager_closes() -> None:
    async with knouds.AsyncClient("k") as client:
        pass
    assert client.is_closed


def test_clients_own_only_their_pool(client_cls: Any) -> None:
    http = httpx.Client() if client_cls is knouds.Client else httpx.AsyncClient()
    client = client_cls("k", http_client=http)
    assert client._http is http
    assert not client._pool.owned


def test_garbage_collected_clients_make_no_noise() -> None:
    # The classic complaint: an AsyncClient dropped after its loop closed prints
    # "Event loop is closed" tracebacks at garbage collection.
    code = """
import asyncio, gc
import knouds
from knouds.testing import Emulator

with Emulator() as emu:
    async def main():
        client = knouds.AsyncClient(emu.api_key, base_url=emu.base_url)
        await client.models.run("gpt-image-2", {"prompt": "x"})
        return client

    leaked = asyncio.run(main())
    sync = knouds.Client(emu.api_key, base_url=emu.base_url)
    sync.models.run("gpt-image-2", {"prompt": "x"})
    del leaked, sync
    gc.collect()
print("done")
"""
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "done"
    assert quiet.stderr == ""
    # With every warning shown, Python's own "unclosed socket" ResourceWarnings may appear (they
    # are the standard hint to close clients), but never an error from a finalizer.
    loud = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert loud.returncode == 0, loud.stderr
    assert "Event loop is closed" not in loud.stderr
    assert "Exception ignored" not in loud.stderr
    assert "Traceback" not in loud.stderr


def test_import_is_light() -> None:
    lazy = (
        "httpx",
        "pydantic",
        "tenacity",
        "knouds.testing",
        "knouds._cli",
        "knouds._sync.download",
        "knouds._async.download",
    )
    code = f"import sys, knouds; print(sorted(m for m in {lazy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_gc_of_unclosed_sync_client_closes_its_pool() -> None:
    client = knouds.Client("k")
    http = client._http
    del client
    gc.collect()
    assert http.is_closed
