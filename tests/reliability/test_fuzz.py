"""Property-based tests: whatever a server, a proxy or an attacker sends, only knouds errors escape.

Header parsing never raises and never returns a non-finite or negative wait; error mapping turns
any status, body and headers into a dict or a :class:`knouds.KnoudsError`; results of any shape
can be read; webhook verification raises only :class:`knouds.WebhookVerificationError`. The
examples are derandomized so CI sees the same cases on every run.
"""

from __future__ import annotations

import asyncio
import json
import math
from email.utils import formatdate
from typing import Any

import httpx
import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import knouds
from knouds import webhooks
from knouds._core.attempt import Endpoint, raise_for_response
from knouds.models._ratelimit import clock_offset, parse_retry_after
from knouds.testing import Emulator, Fault

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

API_KEY = "knouds_live_fuzz_0123456789abcdef"
BASE_URL = "https://api.example.test"
NOW = 1_700_000_000.0
SECRET = "whsec_fuzz_0123456789abcdef"

# -- strategies ----------------------------------------------------------------------------------

ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
numbers = st.one_of(
    st.integers().map(str),
    st.floats().map(repr),
    st.floats(min_value=-1e6, max_value=1e12).map(lambda x: f"{x:.3f}"),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "", " 5 ", "0x10", "1_000", "1e20"]),
)
two_digits = st.integers(min_value=0, max_value=99)
http_dates = st.one_of(
    st.floats(min_value=0, max_value=2e10).map(lambda t: formatdate(t, usegmt=True)),
    st.builds(
        "{}, {} {} {} {}:{}:{} {}".format,
        st.sampled_from(["Mon", "Sun", "Xyz", ""]),
        two_digits,
        st.sampled_from(["Jan", "Feb", "Foo"]),
        st.integers(min_value=0, max_value=999_999),
        two_digits,
        two_digits,
        two_digits,
        st.sampled_from(["GMT", "UTC", "+0200", "-9999", "Z", ""]),
    ),
)
header_values = st.one_of(numbers, http_dates, ascii_text)
LIMIT_HEADERS = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "retry-after-ms",
    "date",
]
limit_headers = st.dictionaries(st.sampled_from(LIMIT_HEADERS), header_values, max_size=6)
any_text_headers = st.dictionaries(st.sampled_from(LIMIT_HEADERS), st.text(max_size=30))
local_now = st.floats(min_value=0, max_value=1e10)

# Keys the SDK looks at, mixed with arbitrary ones, so the interesting paths are reached.
json_keys = st.one_of(
    st.sampled_from(
        [
            "success", "result", "cost", "ms", "images", "videos", "audios", "image", "text",
            "url", "kind", "error", "code", "message", "retryAfter", "limit", "tier", "required",
            "actual", "attempted", "executionId", "status", "_private", "model_config",
        ]
    ),
    st.text(max_size=8),
)  # fmt: skip
urls = st.builds(
    "{}://{}/{}{}".format,
    st.sampled_from(["https", "http", "ftp", "HTTPS"]),
    st.text(alphabet="ab1[]:%@.", max_size=8),
    st.text(max_size=8),
    st.sampled_from([".png", ".mp4", ".mp3", ".txt", "", ".PNG"]),
)
codes = st.sampled_from(
    ["RATE_LIMIT_EXCEEDED", "INVALID_INPUTS", "EXECUTION_FAILED", "grant_exhausted", "SCOPE_DENIED"]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and Infinity too: Python's json writes and reads them
    st.text(max_size=20),
    urls,
    codes,
    st.just(API_KEY),
    st.just(f"key {API_KEY} leaked"),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=5)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=6)
bodies = st.one_of(
    st.binary(max_size=120),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_objects.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"", b"<html><body>502 Bad Gateway</body></html>", b'{"success": tr']),
)
endpoints = st.sampled_from(
    [
        Endpoint.model_run("gpt-image-2", submission=False),
        Endpoint.workflow_run("my-workflow", submission=False),
        Endpoint.execution("abc-123"),
        Endpoint.execution("abc-123", cancel=True),
        Endpoint.whoami(),
    ]
)
# Deep nesting: Python's json parser gives up with RecursionError, not ValueError.
DEEP_JSON = b'{"success": true, "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def check_error(error: knouds.KnoudsError, status: int | None = None) -> None:
    """An error is printable, never shows the key, and keeps the status it stands for."""
    text, shown = str(error), repr(error)
    assert API_KEY not in text
    assert API_KEY not in shown
    assert all(API_KEY not in str(arg) for arg in error.args)
    if status is not None and isinstance(error, knouds.APIStatusError):
        assert error.status_code == status
    if isinstance(error, knouds.RateLimitError) and error.retry_after is not None:
        assert math.isfinite(error.retry_after)
        assert error.retry_after >= 0


def read_result(result: knouds.RunResult) -> None:
    """Touch everything a user reads on a result."""
    for media in [*result.images, *result.videos, *result.audios, *result.media]:
        assert isinstance(media.filename, str)
        repr(media)
    assert result.text is None or isinstance(result.text, str)
    repr(result)
    str(result)


# -- headers -----------------------------------------------------------------------------------


@FUZZ
@given(headers=st.one_of(limit_headers, any_text_headers), now=local_now)
@example(
    headers={"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e20"},
    now=NOW,
)
def test_rate_limit_from_any_headers(headers: dict[str, str], now: float) -> None:
    for mapping in (headers, httpx.Headers(headers) if _ascii(headers) else headers):
        parsed = knouds.RateLimit.from_headers(mapping, now=now)
        if parsed is None:
            continue
        assert parsed.limit >= 0
        assert parsed.remaining >= 0
        assert math.isfinite(parsed.reset)
        assert parsed.reset >= 0
        assert math.isfinite(parsed.clock_offset)
        wait = parsed.seconds_until_reset(now)
        assert math.isfinite(wait)
        assert wait >= 0
        assert math.isfinite(parsed.local_reset)
        repr(parsed)
        # A public property: reading it must not crash on a value the parser accepted.
        parsed.reset_at.isoformat()


@FUZZ
@given(headers=st.one_of(limit_headers, any_text_headers), now=st.none() | local_now)
def test_retry_after_is_none_or_a_finite_wait(headers: dict[str, str], now: float | None) -> None:
    wait = parse_retry_after(headers, now=now)
    assert wait is None or (math.isfinite(wait) and wait >= 0)


@FUZZ
@given(date=st.none() | http_dates | st.text(max_size=40), now=local_now)
def test_clock_offset_is_finite(date: str | None, now: float) -> None:
    offset = clock_offset(date, now)
    assert math.isfinite(offset)


def _ascii(headers: dict[str, str]) -> bool:
    return all(value.isascii() and value.isprintable() for value in headers.values())


# -- error mapping and result parsing --------------------------------------------------------


@FUZZ
@given(
    status=st.integers(min_value=100, max_value=599),
    body=bodies,
    headers=limit_headers,
    endpoint=endpoints,
)
def test_any_response_maps_to_a_dict_or_a_knouds_error(
    status: int, body: bytes, headers: dict[str, str], endpoint: Endpoint
) -> None:
    request = httpx.Request(endpoint.method, BASE_URL + endpoint.path)
    response = httpx.Response(status, headers=headers, content=body, request=request)
    rate_limit = knouds.RateLimit.from_headers(response.headers, now=NOW)
    try:
        decoded = raise_for_response(response, endpoint, rate_limit, now=NOW, api_key=API_KEY)
    except knouds.KnoudsError as error:
        check_error(error, status)
    else:
        assert 200 <= status < 300
        assert isinstance(decoded, dict)


@FUZZ
@given(body=json_objects)
@example(body={"result": ["http://[oops/a.png"]})
@example(body={"result": {"images": [{"url": "https://a.test/x.png", "_private": 1}]}})
def test_any_json_object_is_a_readable_result_or_a_validation_error(body: dict[str, Any]) -> None:
    try:
        result = knouds.RunResult.model_validate(body)
    except pydantic.ValidationError:
        return  # the client wraps this in APIResponseValidationError (checked below)
    read_result(result)


class _FakeTime:
    def __init__(self) -> None:
        self.now = NOW

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


def run_through_client(kind: str, transport: httpx.MockTransport) -> knouds.RunResult:
    """``models.run`` on a fresh client of ``kind`` over ``transport``, with fake time."""
    fake = _FakeTime()
    options: dict[str, Any] = {"base_url": BASE_URL, "clock": fake.time}
    if kind == "sync":
        with (
            httpx.Client(transport=transport) as http,
            knouds.Client(API_KEY, http_client=http, sleep=fake.sleep, **options) as client,
        ):
            return client.models.run("gpt-image-2", {"prompt": "a fox"})

    async def main() -> knouds.RunResult:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            knouds.AsyncClient(API_KEY, http_client=http, sleep=fake.asleep, **options) as client,
        ):
            return await client.models.run("gpt-image-2", {"prompt": "a fox"})

    return asyncio.run(main())


wire_headers = st.dictionaries(
    st.sampled_from([*LIMIT_HEADERS, "content-type", "content-encoding", "location"]),
    st.one_of(
        numbers,
        http_dates,
        ascii_text,
        st.sampled_from(["gzip", "deflate", "br", "identity", "gzip, deflate", "x-unknown"]),
    ),
    max_size=6,
)


@pytest.mark.parametrize("client_kind", ["sync", "async"])
@FUZZ
@given(
    status=st.sampled_from([200, 200, 200, 201, 202, 204, 301, 400, 401, 404, 429, 500, 502]),
    body=st.one_of(bodies, json_objects.map(lambda v: json.dumps({"success": True, **v}).encode())),
    headers=wire_headers,
)
@example(status=200, body=b'{"success": true}', headers={"content-encoding": "gzip"})
@example(status=200, body=b'{"result": ["http://[oops/a.png"]}', headers={})
def test_models_run_raises_only_knouds_errors(
    client_kind: str, status: int, body: bytes, headers: dict[str, str]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A stream, so the client (not this test) reads and decodes the body.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    try:
        result = run_through_client(client_kind, httpx.MockTransport(handler))
    except knouds.KnoudsError as error:
        check_error(error)
    else:
        assert isinstance(result, knouds.RunResult)
        read_result(result)


def run_on_emulator(kind: str, emu: Emulator) -> knouds.RunResult:
    """``models.run`` on a fresh client of ``kind`` talking to ``emu`` over a socket."""
    if kind == "sync":
        with knouds.Client(emu.api_key, base_url=emu.base_url) as client:
            return client.models.run("gpt-5-mini", {"prompt": "hi"})

    async def main() -> knouds.RunResult:
        async with knouds.AsyncClient(emu.api_key, base_url=emu.base_url) as client:
            return await client.models.run("gpt-5-mini", {"prompt": "hi"})

    return asyncio.run(main())


# Found while fuzzing; kept as plain tests so a failure prints a short message.


@pytest.mark.parametrize("status", [200, 500])
def test_deeply_nested_json_maps_to_a_knouds_error(status: int) -> None:
    endpoint = Endpoint.model_run("gpt-image-2", submission=False)
    request = httpx.Request("POST", BASE_URL + endpoint.path)
    response = httpx.Response(status, content=DEEP_JSON, request=request)
    with pytest.raises(knouds.KnoudsError):
        raise_for_response(response, endpoint, None, now=NOW, api_key=API_KEY)


@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_models_run_on_deeply_nested_json_raises_a_knouds_error(client_kind: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(DEEP_JSON))

    with pytest.raises(knouds.APIResponseValidationError):
        run_through_client(client_kind, httpx.MockTransport(handler))


@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_models_run_on_a_body_that_does_not_decompress_raises_a_knouds_error(
    client_kind: str,
) -> None:
    # Over a real socket: a proxy labels a plain JSON body as gzip.
    with Emulator() as emu:
        body = {"success": True, "result": {"text": "hi"}}
        emu.inject(Fault.status(200, body=body, headers={"Content-Encoding": "gzip"}))
        with pytest.raises(knouds.KnoudsError):
            run_on_emulator(client_kind, emu)
        assert emu.run_count() == 0


# -- webhooks ------------------------------------------------------------------------------------

signature_headers = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.builds(
        "t={},{}".format,
        st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), ascii_text),
        st.lists(
            st.builds("v1={}".format, st.text("0123456789abcdef", max_size=64)), max_size=3
        ).map(",".join),
    ),
)


@FUZZ
@given(
    payload=st.one_of(st.binary(max_size=200), st.text(max_size=100), bodies),
    header=signature_headers,
    secret=st.one_of(st.just(SECRET), st.text(max_size=30)),
    now=st.one_of(st.just(NOW), local_now),
)
@example(payload=b"{}", header="t=" + "9" * 400 + ",v1=00", secret=SECRET, now=NOW)
def test_verify_raises_only_webhook_errors(
    payload: bytes | str, header: str | None, secret: str, now: float
) -> None:
    try:
        event = webhooks.verify(payload, header, secret, now=now)
    except knouds.WebhookVerificationError as error:
        str(error)
    else:
        assert isinstance(event, knouds.WebhookEvent)


@FUZZ
@given(
    payload=st.one_of(bodies, json_objects.map(lambda v: json.dumps(v).encode())),
    skew=st.integers(-400, 400),
)
def test_verify_of_a_signed_delivery_returns_an_event_or_refuses_it(
    payload: bytes, skew: int
) -> None:
    header = webhooks.sign(payload, SECRET, timestamp=int(NOW) + skew)
    try:
        event = webhooks.verify(payload, header, SECRET, now=NOW)
    except knouds.WebhookVerificationError:
        return
    assert abs(skew) <= webhooks.DEFAULT_TOLERANCE
    assert event.timestamp == int(NOW) + skew
