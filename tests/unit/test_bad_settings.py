"""Every bad setting of every public call raises `ConfigurationError` before anything is sent.

One row per bad setting. Rows that are calls of a client run against both clients (the
``make_client`` fixture) over a handler that records every request: each must raise
`ConfigurationError` (a ``ValueError`` too), name the parameter and what it was given, say that
nothing was sent, and leave the handler without a request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import resolve, script

MakeClient = Callable[..., Any]
Call = Callable[[Any], Any]

NAN = math.nan
INF = math.inf
MODEL = "gpt-image-2"
SLUG = "my-thumbnail-pipeline"
EXECUTION_ID = "3f1c2a9e-5b7d-4c1e-9a2b-8d6f0e4c3b21"
INPUTS = {"prompt": "a red fox"}
MANY = [INPUTS, INPUTS]


def _row(parameter: str, case: object, label: str) -> Any:
    return pytest.param(parameter, case, id=label)


# -- the clients' constructors: (parameter, keyword arguments) ----------------------------------

CONSTRUCTOR = [
    _row("budget", {"budget": "10"}, "budget='10'"),
    _row("budget", {"budget": -1}, "budget=-1"),
    _row("budget", {"budget": NAN}, "budget=nan"),
    _row("budget", {"budget": INF}, "budget=inf"),
    _row("budget", {"budget": True}, "budget=True"),
    _row("max_retries", {"max_retries": -1}, "max_retries=-1"),
    _row("max_retries", {"max_retries": True}, "max_retries=True"),
    _row("max_retries", {"max_retries": 1.5}, "max_retries=1.5"),
    _row("max_retries", {"max_retries": "2"}, "max_retries='2'"),
    _row("retry", {"retry": "never"}, "retry='never'"),
    _row("retry", {"retry": 3}, "retry=3"),
    _row("timeout", {"timeout": NAN}, "timeout=nan"),
    _row("timeout", {"timeout": -1}, "timeout=-1"),
    _row("timeout", {"timeout": 0}, "timeout=0"),
    _row("timeout", {"timeout": True}, "timeout=True"),
    _row("timeout", {"timeout": httpx.Timeout(5.0, read=-1)}, "timeout=Timeout(read=-1)"),
    _row("max_response_bytes", {"max_response_bytes": 0}, "max_response_bytes=0"),
    _row("max_response_bytes", {"max_response_bytes": True}, "max_response_bytes=True"),
    _row("clock", {"clock": 5}, "clock=5"),
    _row("sleep", {"sleep": "0.1"}, "sleep='0.1'"),
    _row("default_headers", {"default_headers": ["x-a: b"]}, "default_headers=list"),
    _row("journal", {"journal": 5}, "journal=5"),
    _row("journal", {"journal": ""}, "journal=''"),
    _row("rate_limit_store", {"rate_limit_store": 5}, "rate_limit_store=5"),
    _row("rate_limit_store", {"rate_limit_store": "memcached://x"}, "rate_limit_store=url"),
    _row("rate_limit_namespace", {"rate_limit_namespace": ""}, "rate_limit_namespace=''"),
    _row(
        "rate_limit_store_fallback",
        {"rate_limit_store_fallback": "never"},
        "rate_limit_store_fallback='never'",
    ),
]


# -- calls of a client: (parameter, client -> result or awaitable) ------------------------------


def _run_many(owner: str, **kwargs: Any) -> Call:
    def call(client: Any) -> Any:
        target = MODEL if owner == "models" else SLUG
        return getattr(client, owner).run_many(target, MANY, **kwargs)

    return call


CALLS = [
    # models.run, models.submit
    _row("timeout", lambda c: c.models.run(MODEL, INPUTS, timeout=-1), "models.run timeout=-1"),
    _row("timeout", lambda c: c.models.run(MODEL, INPUTS, timeout=NAN), "models.run timeout=nan"),
    _row("retry", lambda c: c.models.run(MODEL, INPUTS, retry="x"), "models.run retry='x'"),
    _row(
        "extra_headers",
        lambda c: c.models.run(MODEL, INPUTS, extra_headers=[("a", "b")]),
        "models.run extra_headers=list",
    ),
    _row("retry", lambda c: c.models.submit(MODEL, INPUTS, retry=2), "models.submit retry=2"),
    _row(
        "timeout",
        lambda c: c.models.submit(MODEL, INPUTS, timeout=-0.5),
        "models.submit timeout=-0.5",
    ),
    # workflows.run, workflows.submit (validate=True reads the schema first: not with bad settings)
    _row(
        "retry",
        lambda c: c.workflows.run(SLUG, INPUTS, validate=True, retry="x"),
        "workflows.run validate retry='x'",
    ),
    _row(
        "timeout",
        lambda c: c.workflows.submit(SLUG, INPUTS, validate=True, timeout=-1),
        "workflows.submit validate timeout=-1",
    ),
    # run_many of both
    _row("concurrency", _run_many("models", concurrency=0), "models.run_many concurrency=0"),
    _row("concurrency", _run_many("models", concurrency=-3), "models.run_many concurrency=-3"),
    _row("concurrency", _run_many("models", concurrency=True), "models.run_many concurrency=True"),
    _row("concurrency", _run_many("workflows", concurrency=2.0), "workflows.run_many conc=2.0"),
    _row("max_credits", _run_many("models", max_credits=-1), "models.run_many max_credits=-1"),
    _row("max_credits", _run_many("models", max_credits=NAN), "models.run_many max_credits=nan"),
    _row("max_credits", _run_many("workflows", max_credits="5"), "workflows.run_many credits='5'"),
    _row(
        "max_credits",
        _run_many("workflows", max_credits=-1, progress=True),
        "workflows.run_many max_credits=-1 progress",
    ),
    _row(
        "poll_interval",
        _run_many("models", submit=True, poll_interval=0),
        "models.run_many poll_interval=0",
    ),
    _row("timeout", _run_many("models", timeout=-1), "models.run_many timeout=-1"),
    _row("retry", _run_many("models", retry="x"), "models.run_many retry='x'"),
    _row(
        "timeout",
        _run_many("workflows", timeout=-1, max_credits=5),
        "workflows.run_many timeout=-1 max_credits",
    ),
    _row("journal", _run_many("workflows", journal=5, max_credits=5), "workflows.run_many journal"),
    # executions.*
    _row(
        "timeout",
        lambda c: c.executions.wait(EXECUTION_ID, timeout=-1),
        "executions.wait timeout=-1",
    ),
    _row(
        "timeout",
        lambda c: c.executions.wait(EXECUTION_ID, timeout=NAN),
        "executions.wait timeout=nan",
    ),
    _row(
        "timeout",
        lambda c: c.executions.wait(EXECUTION_ID, timeout=INF),
        "executions.wait timeout=inf",
    ),
    _row(
        "poll_interval",
        lambda c: c.executions.wait(EXECUTION_ID, poll_interval=0),
        "executions.wait poll_interval=0",
    ),
    _row(
        "poll_interval",
        lambda c: c.executions.wait(EXECUTION_ID, poll_interval=-1),
        "executions.wait poll_interval=-1",
    ),
    _row(
        "poll_interval",
        lambda c: c.executions.wait(EXECUTION_ID, poll_interval=INF),
        "executions.wait poll_interval=inf",
    ),
    _row(
        "max_poll_interval",
        lambda c: c.executions.wait(EXECUTION_ID, max_poll_interval=0),
        "executions.wait max_poll_interval=0",
    ),
    _row(
        "retry",
        lambda c: c.executions.wait(EXECUTION_ID, retry="x"),
        "executions.wait retry='x'",
    ),
    _row(
        "extra_headers",
        lambda c: c.executions.wait(EXECUTION_ID, extra_headers=5),
        "executions.wait extra_headers=5",
    ),
    _row("retry", lambda c: c.executions.get(EXECUTION_ID, retry="x"), "executions.get retry"),
    _row(
        "timeout",
        lambda c: c.executions.cancel(EXECUTION_ID, timeout=-1),
        "executions.cancel timeout=-1",
    ),
    # whoami and the workflows' definitions and schema
    _row("retry", lambda c: c.whoami(retry="x"), "whoami retry='x'"),
    _row("timeout", lambda c: c.workflows.list(timeout=NAN), "workflows.list timeout=nan"),
    _row("retry", lambda c: c.workflows.get(SLUG, retry="x"), "workflows.get retry='x'"),
    _row(
        "retry",
        lambda c: c.workflows.create(name="My flow", retry="x"),
        "workflows.create retry='x'",
    ),
    _row(
        "timeout",
        lambda c: c.workflows.update(SLUG, name="Renamed", timeout=-1),
        "workflows.update timeout=-1",
    ),
    _row("retry", lambda c: c.workflows.delete(SLUG, retry="x"), "workflows.delete retry='x'"),
    _row(
        "extra_headers",
        lambda c: c.workflows.delete(SLUG, extra_headers=5),
        "workflows.delete extra_headers=5",
    ),
    _row("runs", lambda c: c.workflows.estimate(SLUG, runs=-1), "workflows.estimate runs=-1"),
    _row("runs", lambda c: c.workflows.estimate(SLUG, runs=True), "workflows.estimate runs=True"),
    _row("retry", lambda c: c.workflows.schema(SLUG, retry="x"), "workflows.schema retry='x'"),
    _row(
        "timeout",
        lambda c: c.workflows.public_schema(SLUG, timeout=-1),
        "workflows.public_schema timeout=-1",
    ),
    # with_options
    _row("max_retries", lambda c: c.with_options(max_retries=-1), "with_options max_retries=-1"),
    _row(
        "retry",
        lambda c: c.with_options(retry="x", max_retries=1),
        "with_options retry='x' max_retries=1",
    ),
    _row("timeout", lambda c: c.with_options(timeout=-1), "with_options timeout=-1"),
    _row(
        "default_headers",
        lambda c: c.with_options(default_headers=5),
        "with_options default_headers=5",
    ),
]


def _check(error: pytest.ExceptionInfo[knouds.ConfigurationError], parameter: str) -> None:
    message = str(error.value)
    assert isinstance(error.value, ValueError)  # ``except ValueError`` keeps working
    assert parameter in message, message
    assert "got " in message, message
    assert "nothing was sent" in message, message


@pytest.mark.parametrize(("parameter", "kwargs"), CONSTRUCTOR)
async def test_a_bad_client_setting_is_refused(
    make_client: MakeClient, parameter: str, kwargs: dict[str, Any]
) -> None:
    handler, seen = script()
    with pytest.raises(knouds.ConfigurationError) as error:
        make_client(handler, **kwargs)
    _check(error, parameter)
    assert seen == []


@pytest.mark.parametrize(("parameter", "call"), CALLS)
async def test_a_bad_call_setting_is_refused_before_sending(
    make_client: MakeClient, parameter: str, call: Call
) -> None:
    handler, seen = script()
    client = make_client(handler)
    with pytest.raises(knouds.ConfigurationError) as error:
        await resolve(call(client))
    _check(error, parameter)
    assert seen == []


async def test_an_http_client_of_the_other_kind_is_refused(client_kind: str) -> None:
    handler, seen = script()
    if client_kind == "sync":
        wrong: Any = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        make: Any = knouds.Client
    else:
        wrong = httpx.Client(transport=httpx.MockTransport(handler))
        make = knouds.AsyncClient
    try:
        with pytest.raises(knouds.ConfigurationError) as error:
            make(api_key="knouds_live_x", http_client=wrong)
        _check(error, "http_client")
        assert seen == []
    finally:
        await resolve(wrong.aclose() if client_kind == "sync" else wrong.close())


# -- objects built without a client --------------------------------------------------------------

STANDALONE = [
    _row("credits", lambda: knouds.Budget(-1), "Budget(-1)"),
    _row("credits", lambda: knouds.Budget("x"), "Budget('x')"),  # type: ignore[arg-type]
    _row("credits", lambda: knouds.Budget(NAN), "Budget(nan)"),
    _row("credits", lambda: knouds.Budget(True), "Budget(True)"),
    _row("period", lambda: knouds.Budget(10, period=0), "Budget period=0"),
    _row("period", lambda: knouds.Budget(10, period=-60), "Budget period=-60"),
    _row("period", lambda: knouds.Budget(10, period="day"), "Budget period='day'"),  # type: ignore[arg-type]
    _row("period", lambda: knouds.Budget(10, period=timedelta(0)), "Budget period=timedelta(0)"),
    _row("hold_ttl", lambda: knouds.Budget(10, hold_ttl=0), "Budget hold_ttl=0"),
    _row("hold_ttl", lambda: knouds.Budget(10, hold_ttl=INF), "Budget hold_ttl=inf"),
    _row("prices", lambda: knouds.Budget(10, prices={MODEL: -1}), "Budget prices negative"),
    _row("prices", lambda: knouds.Budget(10, prices={MODEL: "4"}), "Budget prices str"),  # type: ignore[dict-item]
    _row("prices", lambda: knouds.Budget(10, prices=[4]), "Budget prices list"),  # type: ignore[arg-type]
    _row("name", lambda: knouds.Budget(10, name=""), "Budget name=''"),
    _row("clock", lambda: knouds.Budget(10, clock=5), "Budget clock=5"),  # type: ignore[arg-type]
    _row("store", lambda: knouds.Budget(10, store=5), "Budget store=5"),
    _row("store", lambda: knouds.Budget(10, store="memcached://h/0"), "Budget store=url"),
    _row("max_retries", lambda: knouds.RetryPolicy(max_retries=-1), "RetryPolicy max_retries=-1"),
    _row(
        "max_retries", lambda: knouds.RetryPolicy(max_retries=True), "RetryPolicy max_retries=True"
    ),
    _row("max_retries", lambda: knouds.RetryPolicy(max_retries=2.5), "RetryPolicy max_retries=2.5"),  # type: ignore[arg-type]
    _row(
        "initial_backoff",
        lambda: knouds.RetryPolicy(initial_backoff=-1),
        "RetryPolicy initial_backoff=-1",
    ),
    _row(
        "initial_backoff",
        lambda: knouds.RetryPolicy(initial_backoff=NAN),
        "RetryPolicy initial_backoff=nan",
    ),
    _row(
        "initial_backoff",
        lambda: knouds.RetryPolicy(initial_backoff=INF),
        "RetryPolicy initial_backoff=inf",
    ),
    _row("max_backoff", lambda: knouds.RetryPolicy(max_backoff=-1), "RetryPolicy max_backoff=-1"),
    _row("max_backoff", lambda: knouds.RetryPolicy(max_backoff=NAN), "RetryPolicy max_backoff=nan"),
    _row(
        "max_retry_wait",
        lambda: knouds.RetryPolicy(max_retry_wait=-1),
        "RetryPolicy max_retry_wait=-1",
    ),
    _row(
        "max_retry_wait",
        lambda: knouds.RetryPolicy(max_retry_wait=NAN),
        "RetryPolicy max_retry_wait=nan",
    ),
    _row("deadline", lambda: knouds.RetryPolicy(deadline=0), "RetryPolicy deadline=0"),
    _row("deadline", lambda: knouds.RetryPolicy(deadline=-5), "RetryPolicy deadline=-5"),
    _row("deadline", lambda: knouds.RetryPolicy(deadline=NAN), "RetryPolicy deadline=nan"),
    _row("deadline", lambda: knouds.RetryPolicy(deadline=INF), "RetryPolicy deadline=inf"),
    _row("on_retry", lambda: knouds.RetryPolicy(on_retry="log"), "RetryPolicy on_retry='log'"),  # type: ignore[arg-type]
    _row(
        "max_retries",
        lambda: knouds.RetryPolicy().with_max_retries(-1),
        "RetryPolicy.with_max_retries(-1)",
    ),
]


@pytest.mark.parametrize(("parameter", "build"), STANDALONE)
def test_a_bad_setting_of_a_budget_or_retry_policy_is_refused(
    parameter: str, build: Callable[[], object]
) -> None:
    with pytest.raises(knouds.ConfigurationError) as error:
        build()
    _check(error, parameter)


def test_a_store_url_in_a_message_is_shown_without_its_password() -> None:
    with pytest.raises(knouds.ConfigurationError, match="store") as error:
        knouds.Budget(10, store="memcached://user:s3cret@cache.test/0")
    assert "s3cret" not in str(error.value)
    assert "cache.test" in str(error.value)
    with pytest.raises(knouds.ConfigurationError, match="rate_limit_store") as error:
        knouds.Client("knouds_live_x", rate_limit_store="memcached://user:s3cret@cache.test/0")
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize(
    ("parameter", "kwargs"),
    [
        ("ttl", {"ttl": 0}),
        ("ttl", {"ttl": NAN}),
        ("ttl", {"ttl": INF}),
        ("ttl", {"ttl": "1d"}),
        ("stale_after", {"stale_after": -1}),
        ("stale_after", {"stale_after": True}),
        ("busy_timeout", {"busy_timeout": -1}),
        ("busy_timeout", {"busy_timeout": NAN}),
        ("clock", {"clock": 5}),
    ],
    ids=lambda v: repr(v),
)
def test_a_bad_sqlite_journal_setting_is_refused_before_the_file_is_opened(
    tmp_path: Path, parameter: str, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / "runs.sqlite"
    with pytest.raises(knouds.ConfigurationError) as error:
        knouds.SQLiteJournal(path, **kwargs)
    _check(error, parameter)
    assert not path.exists()


@pytest.mark.parametrize(
    ("parameter", "kwargs"),
    [
        ("ttl", {"ttl": 0}),
        ("stale_after", {"stale_after": NAN}),
        ("namespace", {"namespace": ""}),
        ("namespace", {"namespace": 5}),
    ],
    ids=lambda v: repr(v),
)
def test_a_bad_redis_journal_setting_is_refused_before_connecting(
    parameter: str, kwargs: dict[str, Any]
) -> None:
    pytest.importorskip("redis")
    # Port 1: nothing listens there, so a connection attempt would fail with another error.
    with pytest.raises(knouds.ConfigurationError) as error:
        knouds.RedisJournal("redis://127.0.0.1:1/0", **kwargs)
    _check(error, parameter)


# -- media downloads, sync and async -------------------------------------------------------------

MEDIA_SETTINGS = [
    _row("max_bytes", {"max_bytes": -1}, "max_bytes=-1"),
    _row("max_bytes", {"max_bytes": True}, "max_bytes=True"),
    _row("max_bytes", {"max_bytes": 1.5}, "max_bytes=1.5"),
    _row("max_bytes", {"max_bytes": "1MB"}, "max_bytes='1MB'"),
    _row("timeout", {"timeout": -1}, "timeout=-1"),
    _row("timeout", {"timeout": NAN}, "timeout=nan"),
]


def _media() -> knouds.Media:
    return knouds.Media(url="https://cdn.example.test/a.png", kind="image")


async def _download(
    how: str, client_kind: str, http: Any, target: Path, kwargs: dict[str, Any]
) -> object:
    media = _media()
    asynchronous = client_kind == "async"
    if how == "read":
        if asynchronous:
            return await media.aread(http_client=http, **kwargs)
        return media.read(http_client=http, **kwargs)
    if how == "iter":
        if asynchronous:
            return [chunk async for chunk in media.aiter_bytes(http_client=http, **kwargs)]
        return list(media.iter_bytes(http_client=http, **kwargs))
    if how == "save":
        if asynchronous:
            return await media.asave(target, http_client=http, **kwargs)
        return media.save(target, http_client=http, **kwargs)
    result = knouds.RunResult.model_validate(
        {"success": True, "result": {"images": [media.url]}, "cost": 1}
    )
    if asynchronous:
        return await result.asave_all(target, http_client=http, **kwargs)
    return result.save_all(target, http_client=http, **kwargs)


@pytest.mark.parametrize("how", ["read", "iter", "save", "save_all"])
@pytest.mark.parametrize(("parameter", "kwargs"), MEDIA_SETTINGS)
async def test_a_bad_download_setting_is_refused_before_anything_is_fetched_or_written(
    client_kind: str, tmp_path: Path, how: str, parameter: str, kwargs: dict[str, Any]
) -> None:
    handler, seen = script()
    transport = httpx.MockTransport(handler)
    http: Any = (
        httpx.AsyncClient(transport=transport)
        if client_kind == "async"
        else httpx.Client(transport=transport)
    )
    target = tmp_path / "out" / "new"
    try:
        with pytest.raises(knouds.ConfigurationError) as error:
            await _download(how, client_kind, http, target, kwargs)
    finally:
        await resolve(http.aclose() if client_kind == "async" else http.close())
    _check(error, parameter)
    assert seen == []
    assert not (tmp_path / "out").exists()


async def _stream(client_kind: str, http: Any, **kwargs: Any) -> list[bytes]:
    media = _media()
    if client_kind == "async":
        return [chunk async for chunk in media.aiter_bytes(http_client=http, **kwargs)]
    return list(media.iter_bytes(http_client=http, **kwargs))


def _http(client_kind: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    transport = httpx.MockTransport(handler)
    if client_kind == "async":
        return httpx.AsyncClient(transport=transport)
    return httpx.Client(transport=transport)


@pytest.mark.parametrize("chunk_size", [0, -1, True, 1.5])
async def test_a_bad_chunk_size_is_refused(client_kind: str, chunk_size: object) -> None:
    handler, seen = script()
    http = _http(client_kind, handler)
    try:
        with pytest.raises(knouds.ConfigurationError) as error:
            await _stream(client_kind, http, chunk_size=chunk_size)
    finally:
        await resolve(http.aclose() if client_kind == "async" else http.close())
    _check(error, "chunk_size")
    assert seen == []


async def test_a_media_http_client_of_the_other_kind_is_refused(client_kind: str) -> None:
    handler, seen = script()
    other = "sync" if client_kind == "async" else "async"
    wrong = _http(other, handler)
    try:
        with pytest.raises(knouds.ConfigurationError) as error:
            await _stream(client_kind, wrong)
    finally:
        await resolve(wrong.aclose() if other == "async" else wrong.close())
    _check(error, "http_client")
    assert seen == []


# -- webhooks.verify ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "kwargs"),
    [
        ("secret", {"secret": ""}),
        ("tolerance", {"tolerance": -1}),
        ("tolerance", {"tolerance": NAN}),
        ("tolerance", {"tolerance": True}),
        ("now", {"now": NAN}),
    ],
    ids=lambda v: repr(v),
)
def test_a_bad_verify_setting_is_both_errors(parameter: str, kwargs: dict[str, Any]) -> None:
    body = b'{"event": "webhook.test"}'
    header = knouds.webhooks.sign(body, "whsec_test", timestamp=1_700_000_000)
    arguments: dict[str, Any] = {"secret": "whsec_test", "now": 1_700_000_000, **kwargs}
    with pytest.raises(knouds.ConfigurationError) as error:
        knouds.webhooks.verify(body, header, **arguments)
    # verify promises WebhookVerificationError for every failure: handlers answering 400 on it
    # keep working.
    assert isinstance(error.value, knouds.WebhookVerificationError)
    assert parameter in str(error.value)
    assert "got " in str(error.value)


@pytest.mark.parametrize(
    ("parameter", "kwargs"),
    [
        ("max_retries", {"max_retries": -1}),
        ("initial_backoff", {"initial_backoff": -1}),
        ("max_backoff", {"max_backoff": -1}),
        ("max_retry_wait", {"max_retry_wait": -1}),
        ("deadline", {"deadline": 0}),
        ("on_retry", {"on_retry": "log"}),
    ],
    ids=lambda v: repr(v),
)
def test_a_bad_retry_policy_field_is_named_exactly(parameter: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(knouds.ConfigurationError) as error:
        knouds.RetryPolicy(**kwargs)
    assert str(error.value).startswith(f"{parameter} must be "), str(error.value)


async def test_unbounded_backoff_and_retry_wait_are_accepted_and_work(
    make_client: MakeClient, fake_time: Any
) -> None:
    policy = knouds.RetryPolicy(jitter=False, max_backoff=INF, max_retry_wait=INF)
    assert (policy.max_backoff, policy.max_retry_wait) == (INF, INF)
    limited = httpx.Response(
        429,
        json={"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"},
        headers={"retry-after": "86400"},
    )
    handler, seen = script(limited, httpx.Response(200, json={"success": True, "cost": 1}))
    client = make_client(handler, retry=policy)
    assert (await resolve(client.models.run(MODEL, INPUTS))).cost == 1
    assert fake_time.sleeps == [86400.0]
    assert len(seen) == 2
