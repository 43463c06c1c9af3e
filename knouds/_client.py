"""``Client`` and ``AsyncClient``: thin shells that do the I/O around the sans-I/O core.

`Client` is generated from `AsyncClient` by ``scripts/unasync.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

import httpx

from ._budget import Budget
from ._config import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    NO_PLAIN_HTTP_PROXY,
    Settings,
    check_headers,
    merge_timeout,
    missing_key_error,
    resolve_settings,
)
from ._core import (
    CallContext,
    Command,
    Endpoint,
    Parse,
    Send,
    Sleep,
    StoreCall,
    attempt_flow,
    parse_identity,
)
from ._exceptions import APIConnectionError, ConfigurationError, KnoudsError
from ._http import build_async_http_client, build_http_client
from ._public import publish
from ._ratelimit import Pacer, RateLimit
from ._ratestore import Pacing, SharedPacing, build_pacing, derive_namespace
from ._retry import RetryPolicy, build_retrying, decide
from ._spend import SpendTracker, check_credits
from ._transport import (
    SEND_DEADLINE,
    BodyReader,
    install_deadlines,
    reports_progress,
)
from ._types import NOT_GIVEN, AsyncSleep, Clock, Inputs, NotGiven, RedisClient, TimeoutTypes
from ._types import Sleep as SleepFn
from ._usage import Usage
from .models import Identity, RunResult
from .resources.executions import AsyncExecutions, Executions
from .resources.models import AsyncModels, Models
from .resources.workflows import AsyncWorkflows, Workflows

if TYPE_CHECKING:
    import tenacity

    from ._journal import Journal, JournalSpec
    from ._journaled import JournaledRun

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
_URL_CACHE_SIZE = 256
# rate_limit_store, rate_limit_namespace, rate_limit_store_fallback as given.
StoreOptions = tuple[object, "str | None", Any]
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class _Pool(Generic[H]):
    """The HTTP client behind a client and its ``with_options`` copies.

    Closing the client that built the pool closes it, for the copies too. A client collected
    without being closed only gives its share back: the copies keep working, and the pool
    closes with the last of them, so ``Client(...).with_options(...)`` works as a one-liner.
    A pool passed in by the user is never closed by the SDK.
    """

    def __init__(self, http: H, *, owned: bool) -> None:
        if isinstance(http, httpx.Client):
            # Its standard transports get the deadline backend (see knouds._transport), the
            # pool's own as well as one passed in: it acts only inside SDK calls.
            install_deadlines(http)
        self.http: H = http
        self.owned = owned
        self.shares = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def take(self) -> _Pool[H]:
        with self._lock:
            self.shares += 1
        return self

    def give_back(self, *, close_now: bool = False) -> bool:
        """Return one share; whether the SDK should now close the pool: the last share was
        returned, or ``close_now`` (the pool's creator is being closed)."""
        with self._lock:
            self.shares -= 1
            return self.owned and (close_now or self.shares == 0)

    def drop(self) -> None:
        """Give back the share of a client collected without being closed: the last share closes
        a sync pool; an async one can close only on its event loop, which a finalizer lacks."""
        if self.give_back() and isinstance(self.http, httpx.Client):
            self.http.close()

    def bind_loop(self) -> None:
        """Bind an async pool to the running event loop, or refuse before anything is sent.

        Connections belong to the event loop that opened them and cannot be used, nor even
        closed cleanly, from another one. So a client (with its copies) serves one loop: a call
        from another raises `ConfigurationError` and sends nothing.
        """
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:
            raise ConfigurationError(
                "This AsyncClient belongs to another event loop than the one running now; "
                "nothing was sent. Create one AsyncClient per event loop (for example inside "
                "the coroutine you pass to asyncio.run)."
            )


def _closed_error() -> APIConnectionError:
    return APIConnectionError(
        "This knouds client is closed; nothing was sent. Create a new client (or keep this "
        "one open for as long as you use it).",
        sent=False,
    )


if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    class _timeout:
        """``asyncio.timeout`` for Python 3.10: cancel the task when the time is up."""

        def __init__(self, seconds: float) -> None:
            self._seconds = seconds
            self._expired = False

        async def __aenter__(self) -> None:
            task = asyncio.current_task()
            assert task is not None
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self._seconds, self._expire, task)

        def _expire(self, task: asyncio.Task[Any]) -> None:
            self._expired = True
            task.cancel()

        async def __aexit__(self, exc_type: object, *rest: object) -> None:
            self._handle.cancel()
            if self._expired and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError


@contextlib.contextmanager
def _deadline(send: Send, http: httpx.Client) -> Iterator[float | None]:
    """The monotonic instant by which ``send``'s exchange must end (sync): a blocking read cannot
    be interrupted from outside, so the socket operations read it (`install_deadlines`). The
    pool's trace tells how far the exchange got."""
    deadline = None if send.limit is None else time.monotonic() + send.limit
    token = SEND_DEADLINE.set(deadline)
    send.progress.traced = reports_progress(http, send.request.url)
    send.request.extensions["trace"] = send.progress.trace_sync
    try:
        yield deadline
    finally:
        SEND_DEADLINE.reset(token)


@contextlib.asynccontextmanager
async def _async_deadline(send: Send, http: httpx.AsyncClient) -> AsyncIterator[float | None]:
    """The monotonic instant by which ``send``'s exchange must end (async): the whole exchange
    runs inside an asyncio timeout (any transport, aiohttp too). When the time is up (or the
    transport raises one of asyncio's timeouts), it raises the error `SendProgress` makes of how
    far the exchange got, from the pool's trace."""
    progress = send.progress
    progress.traced = reports_progress(http, send.request.url)
    send.request.extensions["trace"] = progress.trace
    try:
        if send.limit is None:
            yield None
        else:
            deadline = time.monotonic() + send.limit
            async with _timeout(send.limit):
                yield deadline
    except asyncio.TimeoutError:
        raise await progress.timed_out(send.request) from None
    finally:
        send.request.extensions.pop("trace", None)


def _resolve_policy(retry: RetryPolicy | None, max_retries: int | NotGiven) -> RetryPolicy:
    policy = retry if retry is not None else RetryPolicy()
    if not isinstance(max_retries, NotGiven):
        policy = policy.with_max_retries(max_retries)
    return policy


def _build_run_result_validator() -> None:
    """Build `RunResult`'s validator now, with the client, rather than inside the first run.

    Models build their validators on first use (most programs need only a few of them); the
    result of a run is the one nearly every program needs, and building it (with pydantic's
    one-off plugin discovery) is most of what a first call would otherwise cost.
    """
    if not RunResult.__pydantic_complete__:
        RunResult.model_rebuild()


class _BaseClient:
    """Settings and rate-limit state shared by both clients; no I/O."""

    _settings: Settings
    _policy: RetryPolicy
    _pace: bool
    _clock: Clock
    _pacer: Pacer
    _pacing: Pacing
    _spend: SpendTracker

    def _configure(
        self,
        api_key: str | None,
        base_url: str | httpx.URL | None,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
        retry: RetryPolicy | None,
        pace: bool,
        default_headers: Mapping[str, str] | None,
        clock: Clock | None,
        store: StoreOptions,
        budget: float | Budget | None,
        *,
        asynchronous: bool,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ConfigurationError(
                "max_response_bytes must be a positive number of bytes, got "
                f"{max_response_bytes!r}."
            )
        self._max_response_bytes = max_response_bytes
        self._closed = False
        self._settings = resolve_settings(api_key, base_url, timeout, default_headers)
        _build_run_result_validator()
        self._policy = _resolve_policy(retry, max_retries)
        self._pace = pace
        self._clock = clock or time.time
        self._pacer = Pacer(self._clock)
        self._pacing = self._build_pacing(store, asynchronous=asynchronous)
        if budget is not None and not isinstance(budget, Budget):
            budget = Budget(check_credits(budget, "budget"), clock=self._clock)
        self._spend = SpendTracker(budget)
        self._default_headers = dict(default_headers or {})
        self._journal: Journal | None = None
        self._owns_journal = False
        # Endpoint path -> full URL: parsing a URL costs more than the rest of building a call.
        self._urls: dict[str, httpx.URL] = {}

    def _build_pacing(self, store: StoreOptions, *, asynchronous: bool) -> Pacing:
        target, namespace, fallback = store
        self._explicit_namespace = namespace
        self._store_fallback = fallback
        pacing = build_pacing(
            target,
            namespace,
            fallback,
            pacer=self._pacer,
            clock=self._clock,
            default_namespace=self._namespace,
            asynchronous=asynchronous,
        )
        # Only the client that opened the connection closes it (not its with_options copies).
        self._owns_store = isinstance(pacing, SharedPacing) and pacing.owns_connection
        return pacing

    def _namespace(self) -> str:
        # A client without a key only reaches public endpoints; they share one anonymous budget.
        return derive_namespace(self._settings.api_key or "", str(self._settings.base_url))

    @property
    def base_url(self) -> httpx.URL:
        """The API's base URL."""
        return self._settings.base_url

    @property
    def timeout(self) -> httpx.Timeout:
        """The default timeout of each attempt."""
        return self._settings.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """The default retry policy."""
        return self._policy

    @property
    def budget(self) -> Budget | None:
        """The credit budget runs are refused past, or ``None``."""
        return self._spend.budget

    @property
    def usage(self) -> Usage:
        """Credits charged and runs made since this client was created (a snapshot).

        Counted from the ``cost`` of every result, with a line per model and workflow; copies
        made by `with_options` add to the same report.
        """
        return self._spend.usage.snapshot()

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """The last rate-limit state seen per bucket (``"models"``, ``"workflows"``, ...), as
        pacing uses it (a reset implausibly far ahead is left out; see `RateLimit.for_pacing`)."""
        return self._pacing.snapshot()

    def _context(
        self,
        endpoint: Endpoint,
        *,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> CallContext:
        headers = dict(self._settings.headers)
        if not endpoint.authenticated:
            headers.pop("x-api-key", None)
        elif self._settings.api_key is None:
            raise missing_key_error()
        if content is not None:
            headers["content-type"] = "application/json"
        if extra_headers:
            headers.update(check_headers(extra_headers, "extra header"))
        url = self._urls.get(endpoint.path)
        if url is None:
            base = self._settings.base_url
            url = base.copy_with(path=base.path.rstrip("/") + endpoint.path)
            if len(self._urls) >= _URL_CACHE_SIZE:  # execution ids are unbounded
                self._urls.clear()
            self._urls[endpoint.path] = url
        return CallContext(
            endpoint=endpoint,
            url=url,
            headers=headers,
            timeout=merge_timeout(self._settings.timeout, timeout),
            content=content,
            params=params,
            policy=retry if retry is not None else self._policy,
            pace=self._pace,
            pacing=self._pacing,
            clock=self._clock,
            api_key=self._settings.api_key,
            max_response_bytes=self._max_response_bytes,
        )

    def _copy_kwargs(
        self,
        api_key: str | None,
        base_url: str | httpx.URL | None,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
        retry: RetryPolicy | None,
        pace: bool | None,
        default_headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        policy = _resolve_policy(retry if retry is not None else self._policy, max_retries)
        return {
            "api_key": api_key if api_key is not None else self._settings.api_key,
            "base_url": base_url if base_url is not None else self._settings.base_url,
            "timeout": self._settings.timeout if isinstance(timeout, NotGiven) else timeout,
            "retry": policy,
            "pace": self._pace if pace is None else pace,
            "default_headers": {**self._default_headers, **(default_headers or {})},
            "clock": self._clock,
            "max_response_bytes": self._max_response_bytes,
            # Copies use the same store connection: a shared store, or "local" so that the
            # environment variable is not read again.
            "rate_limit_store": self._pacing if isinstance(self._pacing, SharedPacing) else "local",
            "rate_limit_namespace": self._explicit_namespace,
            "rate_limit_store_fallback": self._store_fallback,
        }

    def _open_journal(self, journal: JournalSpec | None) -> None:
        if journal is not None:
            from ._journal import open_journal

            self._journal = open_journal(journal)
            self._owns_journal = self._journal.owned

    @property
    def journal(self) -> Journal | None:
        """The run journal (``journal=`` at construction), or ``None``."""
        return self._journal

    def _journal_for(self, key: str | None) -> Journal | None:
        """The journal a run records into, or ``None`` to run unjournaled."""
        if self._journal is None and key is not None:
            raise ConfigurationError(
                "idempotency_key needs a run journal to remember runs in: "
                "knouds.Client(journal='runs.sqlite') (or a redis:// URL)"
            )
        return self._journal

    def _batch_journal(self, spec: JournalSpec | None) -> tuple[Journal | None, bool]:
        """The journal a batch records into (its own, else the client's) and whether the batch
        opened it (then the batch closes it)."""
        if spec is None:
            return self._journal, False
        from ._journal import open_journal

        journal = open_journal(spec)
        return journal, journal is not spec

    def _keyed_inputs(
        self, journal: Journal | None, target: str, inputs_list: Iterable[Inputs]
    ) -> Iterable[Inputs]:
        """A journaled batch's inputs, each tagged with its journal key."""
        if journal is None:
            return inputs_list
        from ._journaled import keyed_inputs, server_of

        return keyed_inputs(target, inputs_list, server_of(self))

    def _close_journal(self) -> None:
        if self._journal is not None and self._owns_journal:
            self._journal.close()

    def _adopt_state(self, original: _BaseClient) -> None:
        self._journal = original._journal  # copies record into the same journal
        # Spending is the user's, whatever the key: copies share the budget and the usage.
        self._spend = original._spend
        # Same key and server: the copy spends the same rate-limit budget, so it shares the state.
        if (
            self._settings.api_key == original._settings.api_key
            and self._settings.base_url == original._settings.base_url
        ):
            self._pacer = original._pacer
            self._pacing = original._pacing

    def _retrying(
        self, ctx: CallContext, sleep: Callable[[float], Any], *, asynchronous: bool
    ) -> tenacity.BaseRetrying:
        """A fresh tenacity loop for the rest of one call (never shared between calls)."""
        return build_retrying(
            ctx.policy,
            idempotent=ctx.endpoint.idempotent,
            method=ctx.endpoint.method,
            path=ctx.endpoint.path,
            clock=self._clock,
            started=ctx.started,
            sleep=sleep,
            asynchronous=asynchronous,
        )

    def _first_attempt_failed(self, error: KnoudsError, ctx: CallContext) -> bool:
        return ctx.policy.max_retries > 0 and decide(
            error, ctx.policy, idempotent=ctx.endpoint.idempotent
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._settings.base_url)!r})"


# unasync: sync. Generated from AsyncClient below by scripts/unasync.py: edit that.
class Client(_BaseClient):
    """A synchronous Knouds client. Thread-safe; share one per process.

    Args:
        api_key: the API key; defaults to the ``KNOUDS_API_KEY`` environment variable. A client
            without a key can call public endpoints (``workflows.public_schema``); any other call
            raises `ConfigurationError` naming ``KNOUDS_API_KEY`` before anything is sent.
        base_url: defaults to ``KNOUDS_BASE_URL``, else ``https://knouds.ai``. Must be HTTPS
            unless the host is loopback.
        timeout: seconds (or an ``httpx.Timeout``) for each attempt; ``None`` disables it. The
            default allows 10 s to connect and 10 minutes to read (video runs are slow).
        max_retries: shorthand to change the retry policy's ``max_retries`` (default 2).
        retry: a `RetryPolicy`; the default never re-sends a run that may have
            been charged.
        pace: wait for the rate-limit window to reset instead of collecting 429s (default on).
        http_client: an ``httpx.Client`` of your own (proxies, custom transport). The SDK
            does not close it.
        default_headers: headers sent on every request.
        rate_limit_store: where pacing counts requests: in this process (the default, or
            ``"local"``), or a Redis server shared by every process and machine using the same
            account: a ``"redis://..."`` / ``"rediss://..."`` URL or a ``redis.Redis``
            client (needs ``knouds[redis]``). Defaults to ``KNOUDS_RATE_LIMIT_STORE``.
        rate_limit_namespace: the name of the shared rate-limit window in the store; by default
            a hash of the API key. Give several keys of one account the same namespace: Knouds
            counts their requests in one window.
        rate_limit_store_fallback: when the store does not answer, ``"local"`` (default) paces in
            this process until it is back; ``"raise"`` raises `RateLimitStoreError` instead.
        journal: a run journal: a SQLite file path, a ``redis://`` URL, a ``redis.Redis`` client,
            or a `Journal`. Every run and submission is then recorded before it is sent and when
            it ends, and a run whose key is already recorded is not sent again (see
            ``idempotency_key`` on ``run``).
        clock: a function returning epoch seconds (inject a fake one in tests).
        sleep: a function that sleeps for a number of seconds (inject a fake one in tests).
        max_response_bytes: the largest response body read, counted after decompression
            (default 32 MiB); a larger one raises `APIResponseValidationError` without reading
            the rest.
        budget: a number of credits, or a `Budget` (with a period, or shared through
            Redis). A run that would spend past it raises `BudgetExceededError` before
            anything is sent; see `Budget` for the possible overshoot.

    Example:
        >>> client = knouds.Client()  # doctest: +SKIP
        >>> result = client.models.run("gpt-image-2", {"prompt": "a fox"})  # doctest: +SKIP
    """

    models: Models
    workflows: Workflows
    executions: Executions

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        pace: bool = True,
        http_client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
        rate_limit_store: str | RedisClient | None = None,
        rate_limit_namespace: str | None = None,
        rate_limit_store_fallback: Literal["local", "raise"] = "local",
        journal: JournalSpec | None = None,
        clock: Clock | None = None,
        sleep: SleepFn | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        budget: float | Budget | None = None,
    ) -> None:
        self._configure(
            api_key,
            base_url,
            timeout,
            max_retries,
            retry,
            pace,
            default_headers,
            clock,
            (rate_limit_store, rate_limit_namespace, rate_limit_store_fallback),
            budget,
            asynchronous=False,
            max_response_bytes=max_response_bytes,
        )
        self._sleep: SleepFn = sleep or time.sleep
        owned = http_client is None
        http = http_client or build_http_client(
            limits=DEFAULT_LIMITS, timeout=self._settings.timeout, mounts=NO_PLAIN_HTTP_PROXY
        )
        self._pool = _Pool(http, owned=owned).take()
        self._builds_pool = True
        self._open_journal(journal)
        self.models = Models(self)
        self.workflows = Workflows(self)
        self.executions = Executions(self)

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        pace: bool | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> Client:
        """A copy with some settings changed, sharing this client's connection pool, its credit
        budget and usage report, and (for the same key) its rate-limit state. Closing the copy
        leaves the pool open; closing this client closes it. A copy keeps working after this
        client is garbage-collected."""
        kwargs = self._copy_kwargs(
            api_key, base_url, timeout, max_retries, retry, pace, default_headers
        )
        copy = Client(http_client=self._http, sleep=self._sleep, **kwargs)
        copy._pool, copy._builds_pool = self._pool.take(), False
        copy._adopt_state(self)
        return copy

    def whoami(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Identity:
        """Who the API key belongs to: id, email, role, tier and whether it is approved.

        Args:
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
        """
        ctx = self._context(
            Endpoint.whoami(), timeout=timeout, extra_headers=extra_headers, retry=retry
        )
        return self._call(ctx, parse_identity)

    @property
    def _http(self) -> httpx.Client:
        return self._pool.http

    def _call(self, ctx: CallContext, parse: Parse[T]) -> T:
        if self.is_closed:
            raise _closed_error()
        try:
            return self._drive(attempt_flow(ctx, parse))
        except KnoudsError as error:
            if not self._first_attempt_failed(error, ctx):
                raise
            pending: KnoudsError | None = error
        retrying = self._retrying(ctx, self._sleep, asynchronous=False)
        for attempt in cast("tenacity.Retrying", retrying):
            with attempt:
                if pending is not None:
                    failed, pending = pending, None
                    raise failed
                return self._drive(attempt_flow(ctx, parse))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _journaled(self, run: JournaledRun) -> Any:
        from ._journaled import drive, journaled_flow

        flow = journaled_flow(run, self._clock)
        return drive(flow, self._sleep, offload=run.journal.offload)

    def _drive(self, flow: Generator[Command, object, T]) -> T:
        outcome: object = None
        try:
            while True:
                command = flow.send(outcome)
                if isinstance(command, Sleep):
                    self._sleep(command.seconds)
                    outcome = None
                    continue
                if isinstance(command, StoreCall):
                    outcome = command.run()
                    continue
                outcome = self._exchange(command)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            flow.close()

    def _exchange(self, send: Send) -> object:
        """Send and read the body within the command's limits; the response or what was raised."""
        try:
            with _deadline(send, self._http) as deadline:
                response = self._http.send(send.request, stream=True, follow_redirects=False)
                try:
                    reader = BodyReader(response, max_bytes=send.max_bytes, deadline=deadline)
                    for chunk in response.iter_bytes():
                        reader.add(chunk)
                    return reader.finish()
                finally:
                    response.close()
        except AssertionError:
            # A test's or a mock's signal (respx: "not mocked"), never a server's doing.
            raise
        except Exception as exc:  # every other failure becomes a knouds error in the core
            if self.is_closed:
                return _closed_error()
            return exc

    def close(self) -> None:
        """Close the client and the rate-limit store's connection (if this client opened it from
        a URL). Closing the client you built also closes the connection pool its
        ``with_options`` copies share (a pool passed in as ``http_client`` is left open);
        closing a copy leaves the pool to the others."""
        if self._closed:
            return
        self._closed = True
        self._close_journal()
        if self._pool.give_back(close_now=self._builds_pool):
            self._http.close()
        if self._owns_store and isinstance(self._pacing, SharedPacing):
            self._pacing.runner.close()

    @property
    def is_closed(self) -> bool:
        """Whether this client is closed (or its connection pool is)."""
        return self._closed or self._http.is_closed

    def __del__(self) -> None:
        # A client collected without being closed gives its share of the pool back, so that the
        # copies still in use close it when they are done. Never raise from a finalizer.
        try:
            if not self._closed:
                self._closed = True
                self._pool.drop()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# unasync: end


# unasync: async. The source of Client above.
class AsyncClient(_BaseClient):
    """An asyncio Knouds client: the same names as `Client`, awaited.

    Args:
        api_key: the API key; defaults to the ``KNOUDS_API_KEY`` environment variable. A client
            without a key can call public endpoints (``workflows.public_schema``); any other call
            raises `ConfigurationError` naming ``KNOUDS_API_KEY`` before anything is sent.
        base_url: defaults to ``KNOUDS_BASE_URL``, else ``https://knouds.ai``. Must be HTTPS
            unless the host is loopback.
        timeout: seconds (or an ``httpx.Timeout``) for each attempt; ``None`` disables it. The
            default allows 10 s to connect and 10 minutes to read (video runs are slow).
        max_retries: shorthand to change the retry policy's ``max_retries`` (default 2).
        retry: a `RetryPolicy`; the default never re-sends a run that may have
            been charged.
        pace: wait for the rate-limit window to reset instead of collecting 429s (default on).
        http_client: an ``httpx.AsyncClient`` of your own (proxies, custom transport). The SDK
            does not close it.
        default_headers: headers sent on every request.
        rate_limit_store: where pacing counts requests: in this process (the default, or
            ``"local"``), or a Redis server shared by every process and machine using the same
            account: a ``"redis://..."`` / ``"rediss://..."`` URL or a ``redis.asyncio.Redis``
            client (needs ``knouds[redis]``). Defaults to ``KNOUDS_RATE_LIMIT_STORE``.
        rate_limit_namespace: the name of the shared rate-limit window in the store; by default
            a hash of the API key. Give several keys of one account the same namespace: Knouds
            counts their requests in one window.
        rate_limit_store_fallback: when the store does not answer, ``"local"`` (default) paces in
            this process until it is back; ``"raise"`` raises `RateLimitStoreError` instead.
        journal: a run journal: a SQLite file path, a ``redis://`` URL, a ``redis.Redis`` client,
            or a `Journal`. Every run and submission is then recorded before it is sent and when
            it ends, and a run whose key is already recorded is not sent again (see
            ``idempotency_key`` on ``run``).
        clock: a function returning epoch seconds (inject a fake one in tests).
        sleep: an async function that sleeps for a number of seconds (inject a fake one in tests).
        max_response_bytes: the largest response body read, counted after decompression
            (default 32 MiB); a larger one raises `APIResponseValidationError` without reading
            the rest.
        budget: a number of credits, or a `Budget` (with a period, or shared through
            Redis). A run that would spend past it raises `BudgetExceededError` before
            anything is sent; see `Budget` for the possible overshoot.

    Example:
        >>> client = knouds.AsyncClient()  # doctest: +SKIP
        >>> result = await client.models.run("gpt-image-2", {"prompt": "a fox"})  # doctest: +SKIP
    """

    models: AsyncModels
    workflows: AsyncWorkflows
    executions: AsyncExecutions

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        pace: bool = True,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        rate_limit_store: str | RedisClient | None = None,
        rate_limit_namespace: str | None = None,
        rate_limit_store_fallback: Literal["local", "raise"] = "local",
        journal: JournalSpec | None = None,
        clock: Clock | None = None,
        sleep: AsyncSleep | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        budget: float | Budget | None = None,
    ) -> None:
        self._configure(
            api_key,
            base_url,
            timeout,
            max_retries,
            retry,
            pace,
            default_headers,
            clock,
            (rate_limit_store, rate_limit_namespace, rate_limit_store_fallback),
            budget,
            asynchronous=True,
            max_response_bytes=max_response_bytes,
        )
        self._sleep: AsyncSleep = sleep or asyncio.sleep
        owned = http_client is None
        http = http_client or build_async_http_client(
            limits=DEFAULT_LIMITS, timeout=self._settings.timeout, mounts=NO_PLAIN_HTTP_PROXY
        )
        self._pool = _Pool(http, owned=owned).take()
        self._builds_pool = True
        self._open_journal(journal)
        self.models = AsyncModels(self)
        self.workflows = AsyncWorkflows(self)
        self.executions = AsyncExecutions(self)

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        pace: bool | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncClient:
        """A copy with some settings changed, sharing this client's connection pool, its credit
        budget and usage report, and (for the same key) its rate-limit state. Closing the copy
        leaves the pool open; closing this client closes it. A copy keeps working after this
        client is garbage-collected."""
        kwargs = self._copy_kwargs(
            api_key, base_url, timeout, max_retries, retry, pace, default_headers
        )
        copy = AsyncClient(http_client=self._http, sleep=self._sleep, **kwargs)
        copy._pool, copy._builds_pool = self._pool.take(), False
        copy._adopt_state(self)
        return copy

    async def whoami(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Identity:
        """Who the API key belongs to: id, email, role, tier and whether it is approved.

        Args:
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
        """
        ctx = self._context(
            Endpoint.whoami(), timeout=timeout, extra_headers=extra_headers, retry=retry
        )
        return await self._call(ctx, parse_identity)

    @property
    def _http(self) -> httpx.AsyncClient:
        return self._pool.http

    async def _call(self, ctx: CallContext, parse: Parse[T]) -> T:
        if self.is_closed:
            raise _closed_error()
        self._pool.bind_loop()  # unasync: remove
        try:
            return await self._drive(attempt_flow(ctx, parse))
        except KnoudsError as error:
            if not self._first_attempt_failed(error, ctx):
                raise
            pending: KnoudsError | None = error
        retrying = self._retrying(ctx, self._sleep, asynchronous=True)
        async for attempt in cast("tenacity.AsyncRetrying", retrying):
            with attempt:
                if pending is not None:
                    failed, pending = pending, None
                    raise failed
                return await self._drive(attempt_flow(ctx, parse))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _journaled(self, run: JournaledRun) -> Any:
        from ._journaled import drive_async, journaled_flow

        flow = journaled_flow(run, self._clock)
        return await drive_async(flow, self._sleep, offload=run.journal.offload)

    async def _drive(self, flow: Generator[Command, object, T]) -> T:
        outcome: object = None
        try:
            while True:
                command = flow.send(outcome)
                if isinstance(command, Sleep):
                    await self._sleep(command.seconds)
                    outcome = None
                    continue
                if isinstance(command, StoreCall):
                    outcome = await command.arun()
                    continue
                outcome = await self._exchange(command)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            flow.close()

    async def _exchange(self, send: Send) -> object:
        """Send and read the body within the command's limits; the response or what was raised."""
        try:
            async with _async_deadline(send, self._http) as deadline:
                response = await self._http.send(send.request, stream=True, follow_redirects=False)
                try:
                    reader = BodyReader(response, max_bytes=send.max_bytes, deadline=deadline)
                    async for chunk in response.aiter_bytes():
                        reader.add(chunk)
                    return reader.finish()
                finally:
                    await response.aclose()
        except AssertionError:
            # A test's or a mock's signal (respx: "not mocked"), never a server's doing.
            raise
        except Exception as exc:  # every other failure becomes a knouds error in the core
            if self.is_closed:
                return _closed_error()
            return exc

    async def aclose(self) -> None:
        """Close the client and the rate-limit store's connection (if this client opened it from
        a URL). Closing the client you built also closes the connection pool its
        ``with_options`` copies share (a pool passed in as ``http_client`` is left open);
        closing a copy leaves the pool to the others."""
        if self._closed:
            return
        self._closed = True
        self._close_journal()
        if self._pool.give_back(close_now=self._builds_pool):
            await self._http.aclose()
        if self._owns_store and isinstance(self._pacing, SharedPacing):
            await self._pacing.runner.aclose()

    close = aclose  # unasync: remove

    @property
    def is_closed(self) -> bool:
        """Whether this client is closed (or its connection pool is)."""
        return self._closed or self._http.is_closed

    def __del__(self) -> None:
        # A client collected without being closed gives its share of the pool back, so that the
        # copies still in use close it when they are done. Never raise from a finalizer.
        try:
            if not self._closed:
                self._closed = True
                self._pool.drop()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# unasync: end


publish(globals())
