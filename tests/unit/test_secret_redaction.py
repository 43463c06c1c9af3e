"""The API key, whole or its secret part alone, never shows in what an error shows: its message,
``repr``, ``args``, nor the failures a traceback prints after it (``__cause__``, ``__context__``).
Each path that builds a message from foreign text (a transport, a server, a failed execution, a
media host, the command line's report) is checked, for both clients."""

from __future__ import annotations

import errno
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.redaction import mask, mask_json, scrub_chain, secret_forms
from tests.conftest import API_KEY, json_response, resolve

MakeClient = Callable[..., Any]
SECRET_PART = API_KEY.removeprefix("knouds_live_")
ECHOES = pytest.mark.parametrize("echoed", [API_KEY, SECRET_PART], ids=["whole key", "secret part"])


def shown(error: BaseException) -> Iterator[str]:
    """Everything a person may see of ``error``: its texts, and the traceback printed for it."""
    yield str(error)
    yield repr(error)
    yield repr(error.args)
    yield str(getattr(error, "message", ""))
    yield "".join(traceback.format_exception(type(error), error, error.__traceback__))
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:  # the chain a traceback prints
        seen.add(id(link))
        yield f"{link!s} {link!r} {link.args!r}"
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def assert_no_key(error: BaseException) -> None:
    for text in shown(error):
        assert API_KEY not in text
        assert SECRET_PART not in text


def failing_with(exc: Callable[[httpx.Request], Exception]) -> Callable[[httpx.Request], Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(request)

    return handler


# -- transport failures ---------------------------------------------------------------------------


@ECHOES
async def test_a_connect_error_echoing_the_key_is_raised_without_it(
    make_client: MakeClient, echoed: str
) -> None:
    def refused(request: httpx.Request) -> Exception:
        # A proxy that echoes the request's headers, and the OS error it was raised from.
        try:
            raise OSError(errno.ECONNREFUSED, f"proxy refused x-api-key: {echoed}")
        except OSError as os_error:
            error = httpx.ConnectError(f"proxy said: x-api-key={echoed} refused", request=request)
            error.__cause__ = os_error
            return error

    client = make_client(failing_with(refused), max_retries=0)
    with pytest.raises(knouds.APIConnectionError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    error = caught.value
    assert error.sent is False
    assert "proxy said: x-api-key=*** refused" in str(error)
    assert isinstance(error.__cause__, httpx.ConnectError)  # still chained, for debugging
    assert_no_key(error)


@ECHOES
async def test_a_broken_connection_echoing_the_key_is_raised_without_it(
    make_client: MakeClient, echoed: str
) -> None:
    def broken(request: httpx.Request) -> Exception:
        return httpx.ReadError(f"peer closed after {echoed}", request=request)

    client = make_client(failing_with(broken), max_retries=0)
    with pytest.raises(knouds.APIConnectionError) as caught:
        await resolve(client.executions.get("exe_1"))

    assert "peer closed after ***" in str(caught.value)
    assert_no_key(caught.value)


async def test_a_failure_whose_text_cannot_be_scrubbed_is_not_chained(
    make_client: MakeClient,
) -> None:
    class Stubborn(httpx.ConnectError):
        def __str__(self) -> str:  # its text does not come from its arguments
            return f"stubborn {API_KEY}"

    client = make_client(failing_with(lambda r: Stubborn("x", request=r)), max_retries=0)
    with pytest.raises(knouds.APIConnectionError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_no_key(caught.value)


# -- server answers and failed executions -----------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 502])
async def test_a_server_answer_echoing_the_secret_part_is_raised_without_it(
    make_client: MakeClient, status: int
) -> None:
    body = {"error": f"key …{SECRET_PART} cannot run this", "code": f"BAD_{SECRET_PART}"}
    client = make_client(lambda r: json_response(status, body), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert "cannot run this" in str(caught.value)
    assert_no_key(caught.value)
    assert SECRET_PART not in f"{caught.value.body} {caught.value.code}"


async def test_a_body_that_is_not_json_echoing_the_secret_part_is_raised_without_it(
    make_client: MakeClient,
) -> None:
    answer = httpx.Response(502, text=f"gateway: bad key {SECRET_PART}")
    client = make_client(lambda r: answer, max_retries=0)
    with pytest.raises(knouds.APIStatusError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert "gateway: bad key ***" in str(caught.value)
    assert_no_key(caught.value)
    assert SECRET_PART not in str(caught.value.body)


@ECHOES
@pytest.mark.parametrize("status", [200, 502])
async def test_a_body_excerpt_cut_through_the_key_shows_none_of_it(
    make_client: MakeClient, status: int, echoed: str
) -> None:
    # A message quotes the first 120 characters of a body that is not JSON. Masking after the cut
    # would leave the key's first characters behind, so the key is masked first.
    text = "gateway said: " + "x" * (112 - len(echoed)) + echoed + " and more"
    client = make_client(lambda r: httpx.Response(status, text=text), max_retries=0)
    with pytest.raises(knouds.KnoudsError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert "gateway said: xxx" in str(caught.value)
    for seen in shown(caught.value):
        assert SECRET_PART[:8] not in seen


@ECHOES
@pytest.mark.parametrize("body", [["list"], "text"], ids=["an array", "a string"])
async def test_a_success_that_is_not_an_object_echoing_the_key_shows_none_of_it(
    make_client: MakeClient, body: Any, echoed: str
) -> None:
    answer = [*body, f"for {echoed}"] if isinstance(body, list) else f"{body} for {echoed}"
    client = make_client(lambda r: json_response(200, answer), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert "JSON that is not an object" in str(caught.value)
    assert_no_key(caught.value)
    assert SECRET_PART not in repr(caught.value.body)
    assert "for ***" in repr(caught.value.body)


@ECHOES
async def test_a_redirect_to_a_url_carrying_the_key_shows_none_of_it(
    make_client: MakeClient, echoed: str
) -> None:
    target = f"https://login.example.test/?next=/api&key={echoed}"
    client = make_client(lambda r: httpx.Response(302, headers={"location": target}), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert "redirect (302) to https://login.example.test/?next=/api&key=***" in str(caught.value)
    assert_no_key(caught.value)


async def test_a_failed_execution_echoing_the_secret_part_is_raised_without_it(
    make_client: MakeClient,
) -> None:
    body = {
        "executionId": "exec-1",
        "status": "failed",
        "error": {"code": f"E_{SECRET_PART}", "message": f"provider refused {SECRET_PART}"},
    }
    client = make_client(lambda r: json_response(200, body))
    with pytest.raises(knouds.ExecutionFailedError) as caught:
        await resolve(client.executions.wait("exec-1"))
    assert "provider refused ***" in str(caught.value)
    assert_no_key(caught.value)
    assert SECRET_PART not in f"{caught.value.body} {caught.value.code}"


# -- media downloads and the command line ---------------------------------------------------------


@ECHOES
async def test_a_media_download_failure_echoing_the_key_is_raised_without_it(
    client_kind: str, echoed: str
) -> None:
    # A user's client carrying the key (never sent to media hosts), and a host echoing it anyway.
    def handler(request: httpx.Request) -> httpx.Response:
        assert "x-api-key" not in request.headers
        raise httpx.ReadError(f"cdn proxy: token {echoed} refused", request=request)

    media = knouds.Media(url="https://cdn.example/0.png", kind="image")
    headers = {"x-api-key": API_KEY}
    transport = httpx.MockTransport(handler)
    if client_kind == "sync":
        with (
            httpx.Client(transport=transport, headers=headers) as http,
            pytest.raises(knouds.MediaDownloadError) as caught,
        ):
            media.read(http_client=http)
    else:
        async with httpx.AsyncClient(transport=transport, headers=headers) as ahttp:
            with pytest.raises(knouds.MediaDownloadError) as caught:
                await media.aread(http_client=ahttp)
    assert "cdn proxy: token *** refused" in str(caught.value)
    assert_no_key(caught.value)


@ECHOES
def test_the_cli_masks_the_secret_part_in_any_error_it_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], echoed: str
) -> None:
    from knouds._cli import main as _cli

    def explode(args: Any, out: Any, err: Any) -> int:
        raise OSError(f"cannot write /tmp/{echoed}/out.json")

    parser = _cli.build_parser()
    real_parse = parser.parse_known_args

    def parse(argv: Any = None) -> Any:
        args, extra = real_parse(argv)
        args.handler = explode
        return args, extra

    monkeypatch.setattr(parser, "parse_known_args", parse)
    monkeypatch.setattr(_cli, "build_parser", lambda: parser)
    monkeypatch.setenv("KNOUDS_API_KEY", API_KEY)
    monkeypatch.setenv("KNOUDS_BASE_URL", "http://127.0.0.1:9")  # never the network

    assert _cli.main(["whoami"]) != 0
    err = capsys.readouterr().err
    assert "cannot write /tmp/***/out.json" in err
    assert SECRET_PART not in err


# -- the one rule ---------------------------------------------------------------------------------


def test_the_rule_masks_the_key_and_a_long_enough_secret_part() -> None:
    assert secret_forms(API_KEY) == (API_KEY, SECRET_PART)
    assert secret_forms("knouds_live_short") == ("knouds_live_short",)  # "short": ordinary words
    assert secret_forms(None) == secret_forms("") == secret_forms("  ") == ()
    assert mask(f"a {API_KEY} b {SECRET_PART} c", API_KEY) == "a *** b *** c"
    assert mask(f"a {API_KEY} b", f" {API_KEY}\n") == "a *** b"  # as read from a file


def test_numbers_whose_digits_spell_the_key_are_masked_in_json() -> None:
    key = "knouds_live_4815162342"
    body = {"a": [4815162342, 48151623420.5, 7, True], "n": 10**5000, "4815162342": "x"}
    assert mask_json(body, key) == {"a": ["***", "***", 7, True], "n": 10**5000, "***": "x"}


# Keys are printable ASCII the SDK does not choose: a secret part of digits only, or one holding
# a backslash, which repr() spells from text that does not hold it.
ODD_KEYS = pytest.mark.parametrize(
    ("key", "echo"),
    [
        ("knouds_live_4815162342", 4815162342),
        ("knouds_live_ab\\ncdefgh", "ab\ncdefgh"),
    ],
    ids=["digits", "backslash"],
)


@ODD_KEYS
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda echo: json_response(200, [echo]), id="success not an object"),
        pytest.param(
            lambda echo: json_response(200, {"success": False, "echo": echo}), id="success=false"
        ),
        pytest.param(
            lambda echo: json_response(400, {"error": "bad", "echo": echo}), id="error body"
        ),
    ],
)
async def test_a_key_of_an_odd_shape_echoed_in_an_answer_shows_in_no_part_of_the_error(
    make_client: MakeClient, key: str, echo: object, answer: Callable[[object], httpx.Response]
) -> None:
    part = key.removeprefix("knouds_live_")
    client = make_client(lambda r: answer(echo), api_key=key, max_retries=0)
    with pytest.raises(knouds.KnoudsError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    for seen in shown(caught.value):
        assert part not in seen
    if isinstance(echo, int):  # a number is masked in the body too (a string is data as sent)
        assert part not in repr(getattr(caught.value, "body", None))


@ECHOES
async def test_the_text_of_a_body_cut_through_the_key_keeps_none_of_it(
    make_client: MakeClient, echoed: str
) -> None:
    # An error keeps the first 2048 characters of a body that is not JSON as its ``body``.
    text = "x" * 2028 + echoed + " and more"  # the cut at 2048 runs through either form
    client = make_client(lambda r: httpx.Response(401, text=text), max_retries=0)
    with pytest.raises(knouds.AuthenticationError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert isinstance(caught.value.body, str)
    assert caught.value.body.startswith("xxx")
    assert SECRET_PART[:8] not in caught.value.body


@ECHOES
async def test_the_text_of_a_body_of_wide_characters_keeps_none_of_the_key(
    make_client: MakeClient, echoed: str
) -> None:
    # 1360 three-byte characters, then the key: it crosses byte 4096, inside 2048 characters.
    text = "\u20ac" * 1360 + echoed + " tail"
    client = make_client(lambda r: httpx.Response(400, text=text), max_retries=0)
    with pytest.raises(knouds.BadRequestError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert isinstance(caught.value.body, str)
    assert caught.value.body.startswith("\u20ac")
    assert SECRET_PART[:8] not in caught.value.body
    assert "*** tail" in caught.value.body


def _fail_twice() -> None:
    try:
        raise OSError(errno.EPIPE, f"pipe {SECRET_PART}", f"/tmp/{API_KEY}")
    except OSError:
        raise ValueError(f"bad {API_KEY}") from KeyError(SECRET_PART)


def test_scrubbing_a_chain_masks_every_failure_in_it() -> None:
    with pytest.raises(ValueError, match="bad") as caught:
        _fail_twice()
    error = caught.value
    assert scrub_chain(error, API_KEY)
    assert_no_key(error)
    assert error.args == ("bad ***",)
    assert isinstance(error.__context__, OSError)
    assert (error.__context__.strerror, error.__context__.filename) == ("pipe ***", "/tmp/***")


def test_an_os_errors_second_file_name_is_masked() -> None:
    error = OSError(errno.EXDEV, "cannot move", "/tmp/a", None, f"/tmp/{API_KEY}/b")
    assert scrub_chain(error, API_KEY)
    assert error.filename2 == "/tmp/***/b"
    assert_no_key(error)


class _WithMessage(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.message = text


class _ReadOnlyMessage(Exception):
    @property
    def message(self) -> str:
        return "fixed"


def test_an_errors_message_attribute_is_masked_with_its_text() -> None:
    error = _WithMessage(f"refused {SECRET_PART}")
    assert scrub_chain(error, API_KEY)
    assert (error.args, error.message) == (("refused ***",), "refused ***")

    fixed = _ReadOnlyMessage(f"refused {API_KEY}")  # a message that cannot be set is left
    assert scrub_chain(fixed, API_KEY)
    assert (fixed.args, fixed.message) == (("refused ***",), "fixed")


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_an_error_whose_text_cannot_be_read_shows_nothing_to_scrub() -> None:
    assert scrub_chain(_Unprintable(API_KEY), API_KEY)


def _chain(length: int) -> BaseException:
    error: BaseException | None = None
    for i in range(length):
        link = ValueError(f"{i}: {API_KEY}")
        link.__context__ = error
        error = link
    assert error is not None
    return error


def test_a_chain_is_followed_for_32_failures_and_no_further() -> None:
    whole = _chain(32)
    assert scrub_chain(whole, API_KEY)
    assert_no_key(whole)

    longer = _chain(33)  # the last one is left as it is: the caller must not chain from it
    assert not scrub_chain(longer, API_KEY)
    link: BaseException | None = longer
    for _ in range(32):
        assert link is not None
        assert API_KEY not in str(link)
        link = link.__context__
    assert link is not None
    assert API_KEY in str(link)


def test_a_chain_that_loops_back_is_scrubbed_whole_and_ends() -> None:
    top, cause, middle = (ValueError(f"{name} {API_KEY}") for name in ("top", "cause", "middle"))
    top.__cause__, top.__context__ = cause, middle
    middle.__context__ = top  # back to the start, while ``cause`` still waits its turn
    assert scrub_chain(top, API_KEY)
    assert [str(e) for e in (top, cause, middle)] == ["top ***", "cause ***", "middle ***"]


def test_an_unexpected_error_put_in_a_batch_slot_shows_no_key() -> None:
    from knouds._base.batch import _as_outcome

    outcome = _as_outcome(RuntimeError(f"store said {SECRET_PART}"), API_KEY)
    assert str(outcome) == "This input failed with an unexpected RuntimeError: store said ***"
    assert isinstance(outcome.__cause__, RuntimeError)
    assert_no_key(outcome)
