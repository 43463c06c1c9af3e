"""Bad inputs and odd environments: only knouds errors leave a public call, nothing unsafe is
sent, errors pickle without the key, the key is redacted on every path, and pacing waits are
bounded in total."""

from __future__ import annotations

import inspect
import json
import math
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
import knouds._exceptions as exceptions_module
from knouds._media.files import fit_name
from knouds._stores.pacer import Pacer
from knouds.models._ratelimit import RateLimit
from knouds.webhooks import sign, verify
from tests.conftest import API_KEY, BASE_URL, FakeTime, json_response, rate_headers, resolve

NOW = 1_700_000_000.0


def counting(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    def wrapped(request: httpx.Request) -> httpx.Response:
        wrapped.sent.append(request)  # type: ignore[attr-defined]
        return handler(request)

    wrapped.sent = []  # type: ignore[attr-defined]
    return wrapped


def ok(request: httpx.Request) -> httpx.Response:
    return json_response(200, {"success": True, "result": {"text": "ok"}, "cost": 1, "ms": 1})


# -- inputs JSON cannot carry ----------------------------------------------------------------------


def _circular() -> dict[str, Any]:
    loop: list[Any] = []
    loop.append(loop)
    return {"x": loop}


def _deep() -> dict[str, Any]:
    value: list[Any] = []
    node = value
    for _ in range(50_000):
        child: list[Any] = []
        node.append(child)
        node = child
    return {"x": value}


class _Unprintable:
    """A value whose ``repr`` fails, as some proxies and lazy objects' do."""

    def __repr__(self) -> str:
        raise TypeError("no repr")


BAD_INPUTS = {
    "lone-surrogate": lambda: {"prompt": json.loads('"\\ud83d"')},
    "surrogate-key": lambda: {json.loads('"\\udc00"'): 1},
    "huge-int": lambda: {"n": 10**5000},
    "circular": _circular,
    "too-deep": _deep,
    "unsupported": lambda: {"s": {1, 2}},
    "nan": lambda: {"f": math.nan},
    "bytes": lambda: {"b": b"raw"},
    "unprintable": lambda: {"v": _Unprintable()},
    "huge-int-key": lambda: {10**5000: 1},
    "huge-int-instead-of-a-mapping": lambda: 10**5000,
    "unprintable-instead-of-a-mapping": _Unprintable,
}


# What each refusal says: where the value is, what it is, and why JSON cannot carry it.
REFUSALS = {
    "lone-surrogate": "inputs['prompt'] is str '\\ud83d', which JSON cannot carry: a string with "
    "an unpaired surrogate (not valid Unicode)",
    "surrogate-key": "inputs key '\\udc00' is str '\\udc00', which JSON cannot carry: a key that "
    "is not valid Unicode",
    "huge-int": "inputs['n'] is int of 16610 bits, which JSON cannot carry: an integer too large "
    "to write as JSON",
    "circular": "inputs['x'][0] is list [[...]], which JSON cannot carry: a container that "
    "contains itself",
    "too-deep": "[0][0] is list <list>, which JSON cannot carry: nested more than 100 levels deep",
    "unsupported": "inputs['s'] is set {1, 2}, which JSON cannot carry: not JSON-serialisable",
    "nan": "inputs['f'] is float nan, which JSON cannot carry: not a finite number",
    "bytes": "inputs['b'] is bytes b'raw', which JSON cannot carry: not JSON-serialisable",
    "unprintable": "inputs['v'] is _Unprintable <_Unprintable>, which JSON cannot carry: not "
    "JSON-serialisable",
    "huge-int-key": "inputs key <int> is int of 16610 bits, which JSON cannot carry: a key that "
    "is not a string",
    "huge-int-instead-of-a-mapping": "inputs must be a mapping of field names to values, got int "
    "<int>",
    "unprintable-instead-of-a-mapping": "inputs must be a mapping of field names to values, got "
    "_Unprintable <_Unprintable>",
}


@pytest.mark.parametrize(
    ("make", "refusal"), [(BAD_INPUTS[k], REFUSALS[k]) for k in BAD_INPUTS], ids=list(BAD_INPUTS)
)
async def test_inputs_json_cannot_carry_raise_invalid_inputs_and_send_nothing(
    make_client: Callable[..., Any], make: Callable[[], dict[str, Any]], refusal: str
) -> None:
    handler = counting(ok)
    client = make_client(handler)

    with pytest.raises(knouds.InvalidInputsError) as caught:
        await resolve(client.models.run("gpt-image-2", make()))

    assert caught.value.status_code is None
    assert handler.sent == []
    assert refusal in caught.value.message


def _nested(levels: int, kind: str) -> dict[str, Any]:
    value: Any = [] if kind == "lists" else {}
    for _ in range(levels - 1):
        value = [value] if kind == "lists" else {"k": value}
    return {"x": value}


# The value behind ``inputs['x']`` may hold lists or objects 99 deep; the 100th is refused.
@pytest.mark.parametrize("kind", ["lists", "objects"])
@pytest.mark.parametrize(("levels", "sent"), [(99, True), (100, False)])
async def test_inputs_may_nest_99_levels_under_a_field(
    make_client: Callable[..., Any], levels: int, sent: bool, kind: str
) -> None:
    handler = counting(ok)
    client = make_client(handler)
    if sent:
        await resolve(client.models.run("gpt-image-2", _nested(levels, kind)))
        assert json.loads(handler.sent[0].content) == {"inputs": _nested(levels, kind)}
    else:
        with pytest.raises(knouds.InvalidInputsError, match="nested more than 100 levels deep"):
            await resolve(client.models.run("gpt-image-2", _nested(levels, kind)))
        assert handler.sent == []


async def test_integers_within_pythons_digit_limit_are_sent_however_long(
    make_client: Callable[..., Any],
) -> None:
    # 2**10000 has 3011 digits: past the quick size check, within the 4300 Python writes.
    handler = counting(ok)
    client = make_client(handler)
    await resolve(client.models.run("gpt-image-2", {"n": 2**10000, "m": -(2**14000)}))
    assert json.loads(handler.sent[0].content) == {"inputs": {"n": 2**10000, "m": -(2**14000)}}


async def test_an_integer_past_a_lowered_digit_limit_is_refused_as_too_large(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An application may lower Python's limit (PYTHONINTMAXSTRDIGITS): 10**1000 is then past it.
    handler = counting(ok)
    client = make_client(handler)
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(knouds.InvalidInputsError) as caught:
            await resolve(client.models.run("gpt-image-2", {"n": 10**1000}))
    finally:
        sys.set_int_max_str_digits(previous)
    assert (
        "inputs['n'] is int of 3322 bits, which JSON cannot carry: an integer too large to write "
        "as JSON" in caught.value.message
    )
    assert "changed" not in caught.value.message
    assert handler.sent == []


async def test_a_refusal_names_the_first_bad_value_after_any_good_ones(
    make_client: Callable[..., Any],
) -> None:
    handler = counting(ok)
    client = make_client(handler)
    inputs: dict[str, object] = {
        "a": None,
        "b": True,
        "c": "text",
        "d": 7,
        "e": 1.5,
        "f": [],
        "g": math.inf,
    }
    with pytest.raises(knouds.InvalidInputsError) as caught:
        await resolve(client.models.run("gpt-image-2", inputs))
    assert "inputs['g'] is float inf, which JSON cannot carry: not a finite number" in (
        caught.value.message
    )
    assert handler.sent == []


async def test_a_shared_but_not_circular_value_is_fine(make_client: Callable[..., Any]) -> None:
    shared = [1, 2]
    client = make_client(ok)
    result = await resolve(client.models.run("gpt-image-2", {"a": shared, "b": shared}))
    assert result.text == "ok"


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_cls", [knouds.Client, knouds.AsyncClient])
@pytest.mark.parametrize("key", ["knouds_live_clé", "knouds_live_\u200bx", "knouds_live_\ud800"])
def test_a_key_a_header_cannot_carry_is_a_configuration_error(client_cls: Any, key: str) -> None:
    with pytest.raises(knouds.ConfigurationError) as caught:
        client_cls(key, base_url=BASE_URL)
    assert key not in str(caught.value)


@pytest.mark.parametrize("client_cls", [knouds.Client, knouds.AsyncClient])
def test_default_headers_a_request_cannot_carry_are_refused(client_cls: Any) -> None:
    with pytest.raises(knouds.ConfigurationError, match="x-team"):
        client_cls(API_KEY, base_url=BASE_URL, default_headers={"x-team": "équipe"})


async def test_extra_headers_a_request_cannot_carry_are_refused_before_sending(
    make_client: Callable[..., Any],
) -> None:
    handler = counting(ok)
    client = make_client(handler)
    with pytest.raises(knouds.ConfigurationError):
        await resolve(client.whoami(extra_headers={"x-note": "line\r\nbreak"}))
    assert handler.sent == []


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:hunter2@knouds.example",
        "ftp://user:hunter2@knouds.example",
        f"http://knouds.example/?key={API_KEY}",
        API_KEY,
        f"http://evil.example/{API_KEY}",
    ],
)
def test_base_url_messages_repeat_neither_credentials_nor_the_key(base_url: str) -> None:
    with pytest.raises(knouds.ConfigurationError) as caught:
        knouds.Client(API_KEY, base_url=base_url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert API_KEY not in message
    assert API_KEY[:12] not in message.replace("knouds.example", "")


@pytest.mark.parametrize("client_cls", [knouds.Client, knouds.AsyncClient])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_response_bytes_must_be_a_positive_integer(client_cls: Any, value: Any) -> None:
    with pytest.raises(knouds.ConfigurationError, match="max_response_bytes"):
        client_cls(API_KEY, base_url=BASE_URL, max_response_bytes=value)


async def test_the_body_cap_applies_to_mocked_transports_too(
    make_client: Callable[..., Any],
) -> None:
    big = json.dumps({"success": True, "result": {"text": "x" * 5000}}).encode()
    client = make_client(lambda r: httpx.Response(200, content=big), max_response_bytes=1000)
    with pytest.raises(knouds.APIResponseValidationError, match="1000 bytes"):
        await resolve(client.models.run("gpt-image-2", {"prompt": "p"}))


# -- pickling --------------------------------------------------------------------------------------


def _instances() -> list[knouds.KnoudsError]:
    request = httpx.Request("POST", f"{BASE_URL}/api/x", headers={"x-api-key": API_KEY})
    response = httpx.Response(429, json={"error": "slow down"}, request=request)
    made: list[knouds.KnoudsError] = []
    for name in exceptions_module.__all__:
        cls = getattr(exceptions_module, name)
        params = inspect.signature(cls).parameters
        kwargs: dict[str, Any] = {}
        if "execution_id" in params:
            kwargs["execution_id"] = "exec-1"
        if issubclass(cls, knouds.APIStatusError):
            kwargs.update(status_code=429, code="SOME_CODE", body={"limit": 5}, response=response)
        if "request" in params:
            kwargs["request"] = request
        if cls is knouds.MediaDownloadError:
            kwargs.update(url="https://cdn.example/a.png", status_code=403)
        if cls is knouds.BudgetExceededError:
            kwargs.update(limit=10.0, spent=8.0, held=1.0, requested=4.0, scope="batch")
        if cls is knouds.APIResponseValidationError:
            kwargs = {"response": response, "body": {"a": 1}}
        made.append(cls("something failed", **kwargs))
    return made


@pytest.mark.parametrize("error", _instances(), ids=lambda e: type(e).__name__)
def test_every_public_exception_pickles_with_its_attributes_and_without_the_key(
    error: knouds.KnoudsError,
) -> None:
    data = pickle.dumps(error)
    copy = pickle.loads(data)

    assert API_KEY.encode() not in data
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    plain = {k: v for k, v in vars(error).items() if k not in ("request", "response")}
    assert {k: v for k, v in vars(copy).items() if k in plain} == plain
    for name in ("request", "response"):
        if getattr(error, name, None) is not None:
            assert getattr(copy, name) is not None


# -- the key is redacted on every path -------------------------------------------------------------


async def test_the_key_is_redacted_before_a_body_is_cut(make_client: Callable[..., Any]) -> None:
    text = "x" * 110 + f" bad key {API_KEY} " + "y" * 100
    client = make_client(lambda r: httpx.Response(502, text=text))
    with pytest.raises(knouds.APIStatusError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "p"}))
    shown = str(caught.value) + repr(caught.value) + str(caught.value.body)
    # A cut that fell inside the key would leave a piece of it: no 6 characters of its secret
    # part may survive anywhere in what is shown.
    secret = API_KEY[len("knouds_live_") :]
    pieces = [secret[i : i + 6] for i in range(len(secret) - 5)]
    assert [piece for piece in pieces if piece in shown] == []
    assert "x" * 20 in shown  # the body was shown (cut), so the check above saw it


async def test_the_key_is_redacted_from_codes(make_client: Callable[..., Any]) -> None:
    body = {"error": "no", "code": f"BAD_{API_KEY}"}
    client = make_client(lambda r: json_response(400, body))
    with pytest.raises(knouds.BadRequestError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "p"}))
    assert API_KEY not in (caught.value.code or "")
    assert API_KEY not in json.dumps(caught.value.body)


async def test_a_failed_execution_from_wait_never_shows_the_key(
    make_client: Callable[..., Any],
) -> None:
    body = {
        "executionId": "exec-1",
        "status": "failed",
        "error": {"code": f"E_{API_KEY}", "message": f"provider refused key {API_KEY}"},
    }
    client = make_client(lambda r: json_response(200, body))
    with pytest.raises(knouds.ExecutionFailedError) as caught:
        await resolve(client.executions.wait("exec-1", timeout=5))
    error = caught.value
    assert API_KEY not in str(error) + repr(error) + (error.code or "") + json.dumps(error.body)
    assert error.execution is not None
    assert API_KEY not in error.execution.model_dump_json()


# -- waits are bounded in total --------------------------------------------------------------------


async def test_pacing_never_waits_longer_in_total_than_max_retry_wait(
    make_client: Callable[..., Any], fake_time: FakeTime
) -> None:
    handler = counting(ok)
    client = make_client(handler, retry=knouds.RetryPolicy(max_retry_wait=2.0))
    # The window's budget is spent and a request still in flight holds the next reset.
    pacer: Pacer = client._pacer
    ticket, _ = pacer.acquire("models")
    assert ticket is not None
    pacer.release(ticket, RateLimit(limit=1, remaining=0, reset=fake_time.now + 0.5))
    held, _ = pacer.acquire("models", pace=False)
    assert held is not None
    fake_time.advance(1.0)

    with pytest.raises(knouds.RateLimitError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "p"}))

    assert sum(fake_time.sleeps) <= 2.0
    assert len(fake_time.sleeps) <= 10  # growing waits, not a spin of short sleeps
    assert handler.sent == []


@pytest.mark.parametrize(
    "headers",
    [
        rate_headers(10, 0, NOW + 10 * 365 * 86400),  # a reset years away
        {**rate_headers(10, 0, NOW + 2), "date": "Tue, 01 Jan 2069 00:00:00 GMT"},
        {**rate_headers(10, 0, NOW + 2), "date": "Mon, 01 Jan 1990 00:00:00 GMT"},
    ],
    ids=["reset-years-away", "date-years-ahead", "date-years-behind"],
)
async def test_one_implausible_header_does_not_lock_the_bucket(
    make_client: Callable[..., Any], fake_time: FakeTime, headers: dict[str, str]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = ok(request)
        if len(handler.sent) == 1:  # type: ignore[attr-defined]
            response.headers.update(headers)
        return response

    recorded = counting(handler)
    handler.sent = recorded.sent  # type: ignore[attr-defined]
    client = make_client(recorded, retry=knouds.RetryPolicy(max_retry_wait=5.0))
    for _ in range(3):
        await resolve(client.models.run("gpt-image-2", {"prompt": "p"}))

    assert len(recorded.sent) == 3
    assert sum(fake_time.sleeps) <= 3.0  # at most the honest two seconds to the reset


def test_a_later_answer_corrects_a_wrong_reset() -> None:
    clock = FakeTime(NOW)
    pacer = Pacer(clock.time)
    first, _ = pacer.acquire("models")
    assert first is not None
    pacer.release(first, RateLimit(limit=5, remaining=4, reset=NOW + 3000))  # wrong, but plausible
    second, _ = pacer.acquire("models")
    assert second is not None
    pacer.release(second, RateLimit(limit=5, remaining=4, reset=NOW + 30))  # sent after: correct

    assert pacer.snapshot()["models"].reset == NOW + 30
    assert pacer.budget("models") == 4


# -- webhooks --------------------------------------------------------------------------------------

SECRET = "whsec_0123456789abcdef0123"
BODY = json.dumps({"event": "webhook.test", "executionId": "e-1"}).encode()


@pytest.mark.parametrize(
    "header",
    [
        "t=1700000000,v1=é" + "0" * 63,
        f"t=1700000000,v1={'ü' * 64}",
        "t=" + "\u0661\u0667" + "\u0660" * 8 + ",v1=" + "0" * 64,  # Arabic-Indic digits
        b"t=1700000000,v1=\xff\xfe",
        12345,
    ],
    ids=["non-ascii-signature", "all-non-ascii", "arabic-digits", "non-ascii-bytes", "int"],
)
def test_hostile_signature_headers_raise_webhook_verification_error(header: Any) -> None:
    with pytest.raises(knouds.WebhookVerificationError):
        verify(BODY, header, SECRET, now=NOW)


def test_a_bytes_header_is_verified_like_a_string() -> None:
    header = sign(BODY, SECRET, timestamp=int(NOW)).encode()
    assert verify(BODY, header, SECRET, now=NOW).execution_id == "e-1"


@pytest.mark.parametrize(
    "tolerance", [math.nan, math.inf, -1, "300", 10**400], ids=["nan", "inf", "-1", "str", "huge"]
)
def test_a_tolerance_that_is_not_a_finite_number_accepts_nothing(tolerance: Any) -> None:
    stale = sign(BODY, SECRET, timestamp=int(NOW) - 10**6)
    with pytest.raises(knouds.WebhookVerificationError, match="tolerance"):
        verify(BODY, stale, SECRET, tolerance=tolerance, now=NOW)


@pytest.mark.parametrize("now", [math.nan, 10**400], ids=["nan", "huge"])
def test_a_now_that_is_not_a_finite_time_accepts_nothing(now: Any) -> None:
    with pytest.raises(knouds.WebhookVerificationError, match="now"):
        verify(BODY, sign(BODY, SECRET, timestamp=int(NOW)), SECRET, now=now)


def test_a_signed_body_nested_too_deep_to_parse_raises_webhook_verification_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(knouds.WebhookVerificationError, match="JSON"):
        verify(deep, sign(deep, SECRET, timestamp=int(NOW)), SECRET, now=NOW)


# -- media file names ------------------------------------------------------------------------------


def test_long_names_are_cut_to_the_file_system_limit_in_bytes(tmp_path: Path) -> None:
    from knouds._media.files import destination

    name = "é" * 300 + ".png"
    target = destination(tmp_path, name)
    assert len(target.name.encode()) <= 200
    assert target.name.endswith(".png")
    target.write_bytes(b"ok")  # the file system accepts it
    assert fit_name("ab" * 10, 7) == "abababa"
    assert fit_name("日本語の名前.jpeg", 12) == "日本.jpeg"


async def test_media_redirects_stay_checked_with_a_client_that_follows_them(
    client_kind: str, tmp_path: Path
) -> None:
    hops = {f"https://cdn.example/{i}.png": f"https://cdn.example/{i + 1}.png" for i in range(10)}

    def handler(request: httpx.Request) -> httpx.Response:
        target = hops.get(str(request.url))
        if target is not None:
            return httpx.Response(302, headers={"location": target})
        return httpx.Response(200, content=b"png")

    media = knouds.Media(url="https://cdn.example/0.png", kind="image")
    transport = httpx.MockTransport(handler)
    if client_kind == "sync":
        with (
            httpx.Client(transport=transport, follow_redirects=True) as http,
            pytest.raises(knouds.MediaDownloadError, match="redirects"),
        ):
            media.read(http_client=http)
    else:
        async with httpx.AsyncClient(transport=transport, follow_redirects=True) as ahttp:
            with pytest.raises(knouds.MediaDownloadError, match="redirects"):
                await media.aread(http_client=ahttp)
