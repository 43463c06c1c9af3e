"""The API key never reaches what a user sees from a failed call: neither whole nor its secret part
alone (what follows ``knouds_live_``), whatever path built the message: a transport error that
echoes it, a server's error body, the command line's report. Both clients."""

from __future__ import annotations

import traceback
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, resolve

SECRET_PART = API_KEY.removeprefix("knouds_live_")


def _shown(error: BaseException) -> str:
    """Everything a user may see of an error: its text, repr, args and the whole traceback
    chain (causes and contexts included)."""
    text = "".join(traceback.format_exception(error))
    return "\n".join([str(error), repr(error), repr(error.args), text])


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(API_KEY, id="whole-key"),
        pytest.param(SECRET_PART, id="secret-part"),
    ],
)
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError, id="refused"),
        pytest.param(httpx.RemoteProtocolError, id="broken"),
        pytest.param(httpx.ReadTimeout, id="read-timeout"),
    ],
)
async def test_a_transport_error_echoing_the_key_shows_none_of_it(
    make_client: Any, echo: str, failure: type[httpx.RequestError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure(f"proxy refused header x-api-key: {echo}", request=request)

    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.APIConnectionError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    shown = _shown(caught.value)
    assert "proxy refused header" in shown or "Timed out" in shown
    assert SECRET_PART not in shown


@pytest.mark.parametrize("echo", [API_KEY, SECRET_PART])
async def test_a_server_error_echoing_the_key_shows_none_of_it(make_client: Any, echo: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "BAD", "message": f"key {echo} may not run this"}}
        return httpx.Response(400, json=body)

    client = make_client(handler)
    with pytest.raises(knouds.BadRequestError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    shown = _shown(caught.value) + repr(caught.value.body)
    assert "may not run this" in shown
    assert SECRET_PART not in shown


def test_the_command_lines_report_masks_the_secret_part_too() -> None:
    import io

    from knouds._cli.errors import _report

    err = io.StringIO()
    _report(RuntimeError(f"something echoed {SECRET_PART}"), err, secret=API_KEY)
    assert SECRET_PART not in err.getvalue()
    assert "***" in err.getvalue()
