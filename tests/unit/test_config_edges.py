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


PLAIN_HTTP = "uses plain HTTP: the API key would travel unencrypted."
LONG_PATH = "http://api.example/"  # 19 characters, then a path of "a"s


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://api.example/v1?token=abc", "http://api.example/v1"),
        ("http://api.example/v1?a=1?b=2", "http://api.example/v1"),
        ("http://api.example/v1#frag", "http://api.example/v1"),
        ("http://api.example/v1#a#b", "http://api.example/v1"),
        ("http://api.example/v1?a=1#frag", "http://api.example/v1"),
        ("http://api.example/team@x/v1", "http://api.example/team@x/v1"),
        ("http://api.example/x://a@b/c", "http://api.example/x://a@b/c"),
        (LONG_PATH + "a" * 81, LONG_PATH + "a" * 81),  # 100 characters: shown whole
        (LONG_PATH + "a" * 82, LONG_PATH + "a" * 80 + "…"),  # 101: cut at 99, then "…"
        (LONG_PATH + "a" * 300, LONG_PATH + "a" * 80 + "…"),
    ],
    ids=[
        "query",
        "two-queries",
        "fragment",
        "two-fragments",
        "query-and-fragment",
        "at-in-path",
        "scheme-in-path",
        "100-chars",
        "101-chars",
        "long",
    ],
)
async def test_a_refused_base_url_is_shown_without_query_or_fragment_and_cut_short(
    make_client: Any, given: str, shown: str
) -> None:
    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(base_url=given)
    assert str(info.value).startswith(f"base_url {shown!r} {PLAIN_HTTP}"), str(info.value)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (f"http://api.example/{API_KEY}/v1", "http://api.example/***/v1"),
        (f"http://api.example/v1?x=1#{API_KEY}", "http://api.example/v1"),
        # Its secret part alone (what follows "knouds_live_") is masked too.
        (f"http://api.example/{API_KEY.removeprefix('knouds_live_')}", "http://api.example/***"),
        (f"http://api.example/{'a' * 70}{API_KEY}", f"http://api.example/{'a' * 70}***"),
    ],
    ids=["whole-key", "key-in-fragment", "secret-part", "masked-before-cutting"],
)
async def test_a_key_pasted_into_the_base_url_is_masked_in_the_message(
    make_client: Any, given: str, shown: str
) -> None:
    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(base_url=given)
    assert str(info.value).startswith(f"base_url {shown!r} {PLAIN_HTTP}"), str(info.value)
    assert API_KEY.removeprefix("knouds_live_") not in str(info.value)


async def test_a_store_url_is_shown_from_its_first_authority_without_credentials(
    make_client: Any,
) -> None:
    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(rate_limit_store="memcached://user:s3cret@cache.test/x://y")
    assert "got 'memcached://cache.test/x://y';" in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(("key", "kind"), [(5, "int"), (b"knouds_live_x", "bytes")])
async def test_a_key_that_is_not_a_string_is_named_by_its_type(
    make_client: Any, key: object, kind: str
) -> None:
    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(api_key=key)
    assert str(info.value) == f"api_key must be a string, got {kind}."


HEADER_RULE = "cannot be sent: header names and values must be ASCII strings without line breaks."


@pytest.mark.parametrize(
    ("headers", "named"),
    [({"x-team": 5}, "'x-team'"), ({"x-team": None}, "'x-team'"), ({5: "blue"}, "5")],
    ids=["int-value", "none-value", "int-name"],
)
async def test_headers_that_are_not_strings_are_refused(
    make_client: Any, headers: dict[Any, Any], named: str
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=OK_RUN)

    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(handler, default_headers=headers)
    assert str(info.value) == f"default header {named} {HEADER_RULE}"
    client = make_client(handler)
    with pytest.raises(knouds.ConfigurationError) as info:
        await resolve(client.models.run("flux-2", {}, extra_headers=headers))
    assert str(info.value) == f"extra header {named} {HEADER_RULE}"
    assert sent == []


async def test_a_default_accept_encoding_replaces_the_sdks_and_is_sent_once(
    make_client: Any,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    client = make_client(handler, default_headers={"Accept-Encoding": "identity"})
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].headers.get_list("accept-encoding") == ["identity"]


async def test_only_counted_encodings_are_asked_for_even_over_a_custom_http_client(
    make_client: Any, client_kind: str
) -> None:
    # The SDK counts decompressed bytes for gzip and deflate only: an http_client asking for
    # more (httpx adds "br" and "zstd" when brotli or zstandard is installed) is overridden.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    kind = httpx.AsyncClient if client_kind == "async" else httpx.Client
    http = kind(transport=httpx.MockTransport(handler), headers={"Accept-Encoding": "br, zstd"})
    client = make_client(http_client=http)
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].headers.get_list("accept-encoding") == ["gzip, deflate"]
    assert not [
        name for name in seen[0].headers if "encoding" in name and name != "accept-encoding"
    ]


async def test_a_key_holding_a_question_mark_is_masked_whole(make_client: Any) -> None:
    key = "knouds_live_abcd?efgh0123456789"
    with pytest.raises(knouds.ConfigurationError) as info:
        make_client(api_key=key, base_url=f"http://api.example/{key}")
    assert str(info.value).startswith(f"base_url 'http://api.example/***' {PLAIN_HTTP}")
    assert "abcd" not in str(info.value)
