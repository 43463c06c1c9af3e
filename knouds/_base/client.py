"""What `Client` and `AsyncClient` share: settings, rate-limit and spend state, the connection
pool's ownership; no I/O."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from .._core.attempt import CallContext, Endpoint
from .._core.checks import check_credits, check_retry
from .._core.journal import JournalKeys
from .._core.retry import RetryPolicy
from .._core.settings import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Settings,
    check_headers,
    merge_timeout,
    missing_key_error,
    resolve_settings,
)
from .._exceptions import APIConnectionError, ConfigurationError
from .._stores.budget import Budget
from .._stores.pacer import Pacer
from .._stores.pacing import Pacing, SharedPacing, build_pacing, derive_namespace
from .._stores.spend import SpendTracker
from .._stores.usage import Usage
from .._transports.deadline import install_deadlines
from .._types import NOT_GIVEN, Clock, NotGiven, TimeoutTypes
from ..models import RunResult
from ..models._ratelimit import RateLimit

if TYPE_CHECKING:
    from .._stores.journal import Journal, JournalSpec
    from .._telemetry import CallWatch, Telemetry

__all__ = ["StoreOptions"]

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
            # Its standard transports get the deadline backend (see
            # knouds._transports.deadline), the pool's own as well as one passed in: it acts only
            # inside SDK calls.
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


def _closed_error(in_flight: bool = False) -> APIConnectionError:
    """The error of a call on a closed client: before sending (nothing was sent), or when the
    client was closed while the request was in flight (it may have been processed)."""
    if in_flight:
        return APIConnectionError(
            "This knouds client was closed while the request was in flight; keep the client "
            "open until its calls have returned."
        )
    return APIConnectionError(
        "This knouds client is closed; nothing was sent. Create a new client (or keep this "
        "one open for as long as you use it).",
        sent=False,
    )


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


class _JournalSlot:
    """A client's journal, opened once on first use and shared with its ``with_options`` copies
    (one slot for all of them); closed by the client that was given it, if it opened it from a
    path or URL."""

    def __init__(self, spec: JournalSpec | None) -> None:
        self.spec = spec
        self._journal: Journal | None = None
        self._lock = threading.Lock()

    def get(self) -> Journal | None:
        if self.spec is None:
            return None
        with self._lock:
            if self._journal is None:
                from .._stores.journal import open_journal

                self._journal = open_journal(self.spec)
            return self._journal

    def close(self) -> None:
        with self._lock:
            journal = self._journal
        if journal is not None and journal.owned:
            journal.close()


class _BaseClient:
    """Settings and rate-limit state shared by both clients; no I/O."""

    _settings: Settings
    _policy: RetryPolicy
    _pace: bool
    _clock: Clock
    _pacer: Pacer
    _pacing: Pacing
    _spend: SpendTracker

    def _watch_wait(self, execution_id: str) -> CallWatch | None:
        """The span of ``executions.wait`` when telemetry is on (its polls report to it)."""
        telemetry = self._telemetry
        return None if telemetry is None else telemetry.watch_wait(execution_id)

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
        self._telemetry: Telemetry | None = None  # set by the shell (build_telemetry)
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
        self._journal_slot = _JournalSlot(None)
        self._owns_journal = True
        self._keys: JournalKeys | None = None
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
        if retry is not None:
            check_retry(retry)
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

    def _open_journal(self, journal: JournalSpec | None, *, now: bool) -> None:
        """Take the client's journal: opened at once (``now``, the sync client, so a bad path
        fails at construction), or on first use, from a worker thread (the async client: opening
        a SQLite file can wait on another process's write lock, and the event loop must not)."""
        self._journal_slot = _JournalSlot(journal)
        if now:
            self._journal_slot.get()

    @property
    def journal(self) -> Journal | None:
        """The run journal (``journal=`` at construction), or ``None``. Opened on first use by
        the async client (reading this property opens it)."""
        return self._journal_slot.get()

    def _journal_for(self, key: str | None) -> Journal | None:
        """The journal a run records into, or ``None`` to run unjournaled (may block: opens
        the journal on first use)."""
        if self._journal_slot.spec is None:
            if key is not None:
                raise ConfigurationError(
                    "idempotency_key needs a run journal to remember runs in: "
                    "knouds.Client(journal='runs.sqlite') (or a redis:// URL); nothing was sent."
                )
            return None
        return self._journal_slot.get()

    def _needs_journal(self, spec: JournalSpec | None) -> bool:
        """Whether a batch with ``journal=spec`` records into a journal (opening may block)."""
        return spec is not None or self._journal_slot.spec is not None

    def _batch_journal(self, spec: JournalSpec | None) -> tuple[Journal | None, bool]:
        """The journal a batch records into (its own, else the client's) and whether the batch
        opened it (then the batch closes it). May block: opens a file or a connection."""
        if spec is None:
            return self._journal_slot.get(), False
        from .._stores.journal import open_journal

        journal = open_journal(spec)
        return journal, journal is not spec

    def _journal_keys(self) -> JournalKeys:
        """How this client's account names its runs in a journal."""
        keys = self._keys
        if keys is None:
            settings = self._settings
            keys = self._keys = JournalKeys.of(settings.api_key, str(settings.base_url))
        return keys

    def _close_journal(self) -> None:
        if self._owns_journal:
            self._journal_slot.close()

    def _adopt_state(self, original: _BaseClient) -> None:
        self._journal_slot = original._journal_slot  # copies record into the same journal
        self._owns_journal = False
        # Spending is the user's, whatever the key: copies share the budget and the usage.
        self._spend = original._spend
        # Same key and server: the copy spends the same rate-limit budget, so it shares the state.
        if (
            self._settings.api_key == original._settings.api_key
            and self._settings.base_url == original._settings.base_url
        ):
            self._pacer = original._pacer
            self._pacing = original._pacing

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._settings.base_url)!r})"
