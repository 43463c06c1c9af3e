"""Edges of client settings: what a key and a base URL may look like, timeouts, default headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, resolve

OK_RUN = {"success": True, "result": {"text": "done"}, "cost": 1, "ms": 5}


@pytest.mark.parametrize("key", ["abc\r\nX-Evil: 1", "abc\ndef", "abc\x00", "abc\x7fdef", "ab\tc"])
async def test_keys_a_header_cannot_carry_are_refused(make_client: Any, key: str) -> None:
    with pytest.raises(knouds.ConfigurationError):
        make_client(api_key=key)


@pytest.mark.parametrize("key", ["", "   "])
async def test_a_blank_key_is_no_key_and_nothing_authenticated_is_sent(
    make_client: Any, key: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    client = make_client(handler, api_key=key)
    with pytest.raises(knouds.ConfigurationError, match="KNOUDS_API_KEY"):
        await resolve(client.models.run("flux-2", {}))
    assert seen == []


async def test_the_key_is_sent_without_surrounding_blanks(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    client = make_client(handler, api_key=f"  {API_KEY}\t")
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].headers["x-api-key"] == API_KEY
    assert seen[0].headers["accept"] == "application/json"
    assert seen[0].headers["user-agent"].startswith("knouds-python/")


async def test_default_headers_may_replace_the_user_agent_and_accept(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    client = make_client(
        handler, default_headers={"User-Agent": "my-app/1.0", "Accept": "application/x-test"}
    )
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].headers.get_list("user-agent") == ["my-app/1.0"]
    assert seen[0].headers.get_list("accept") == ["application/x-test"]


async def test_keys_with_any_printable_characters_are_kept(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    client = make_client(handler, api_key="knouds_live_XYZ-0123.xx")
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].headers["x-api-key"] == "knouds_live_XYZ-0123.xx"


async def test_an_empty_base_url_variable_means_the_default(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOUDS_BASE_URL", "")
    assert str(make_client(base_url=None).base_url) == "https://knouds.ai"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("  https://api.example/  ", "https://api.example"),
        ("https://api.example/v1/", "https://api.example/v1"),
        ("https://api.example/v1?x=1#frag", "https://api.example/v1"),
        ("https://api.example/XX/", "https://api.example/XX"),
        (httpx.URL("https://api.example:8443/"), "https://api.example:8443"),
    ],
)
async def test_base_urls_are_normalised(make_client: Any, given: Any, expected: str) -> None:
    assert str(make_client(base_url=given).base_url) == expected


@pytest.mark.parametrize(
    "given",
    ["https://", "https:///path", "mailto:a@b.c", "https://user@api.example", "http://[::1"],
)
async def test_base_urls_without_a_host_or_with_credentials_are_refused(
    make_client: Any, given: str
) -> None:
    with pytest.raises(knouds.ConfigurationError, match="base_url") as info:
        make_client(base_url=given)
    if "@" not in given:
        assert given in str(info.value)


NONSENSE_TIMEOUTS = [
    0,
    -5,
    True,
    "30",
    float("nan"),
    float("inf"),
    float("-inf"),
    httpx.Timeout(float("nan")),
    httpx.Timeout(10.0, read=float("inf")),
    httpx.Timeout(10.0, pool=-1.0),
    httpx.Timeout(10.0, read=0),
    httpx.Timeout(10.0, write=True),
    httpx.Timeout(10.0, connect="5"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("value", NONSENSE_TIMEOUTS, ids=repr)
async def test_timeouts_must_be_positive_numbers(make_client: Any, value: Any) -> None:
    with pytest.raises(knouds.ConfigurationError, match="timeout"):
        make_client(timeout=value)


@pytest.mark.parametrize("value", NONSENSE_TIMEOUTS, ids=repr)
async def test_a_nonsense_timeout_of_one_call_is_refused_before_sending(
    make_client: Any, value: Any
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "succeeded", "outputs": []})

    client = make_client(handler)
    with pytest.raises(knouds.ConfigurationError, match="timeout"):
        await resolve(client.models.run("m", {"prompt": "p"}, timeout=value))
    assert sent == []


async def test_a_timeout_of_parts_under_a_second_is_taken_as_given(make_client: Any) -> None:
    assert make_client(timeout=httpx.Timeout(0.5)).timeout == httpx.Timeout(0.5)


async def test_short_timeouts_also_cap_connecting(make_client: Any) -> None:
    assert make_client(timeout=4).timeout == httpx.Timeout(4.0)
    assert make_client(timeout=10).timeout == httpx.Timeout(10.0)
    assert make_client(timeout=25.5).timeout == httpx.Timeout(25.5, connect=10.0)


async def test_settings_show_the_base_url_but_never_the_key(make_client: Any) -> None:
    client = make_client(base_url="https://api.example/v1")
    shown = repr(client._settings)
    assert "https://api.example/v1" in shown
    assert API_KEY not in shown
