# Generated from knouds/_async/client.py by scripts/unasync.py:
# edit that file, not this one.
"""`Client`: the shell that does the I/O around the sans-I/O core (`knouds._core`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TypeVar

import httpx

from .._base.checks import check_client_settings
from .._base.client import _BaseClient, _closed_error, _Pool
from .._base.observe import build_telemetry
from .._base.offload import run_here
from .._base.workflows import SchemaCache
from .._core.attempt import CallContext, Endpoint, Parse, Send, parse_identity
from .._core.checks import check_copy_settings
from .._core.pipeline import Call, call_flow
from .._core.retry import RetryPolicy
from .._core.settings import DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES, NO_PLAIN_HTTP_PROXY
from .._public import publish
from .._stores.budget import Budget
from .._stores.pacing import SharedPacing
from .._transports.deadline import BodyReader, _deadline, raised_by_the_sdk
from .._transports.pool import build_http_client
from .._types import NOT_GIVEN, Clock, NotGiven, RedisClient, SleepFn, TimeoutTypes
from ..models import Identity
from .driver import drive
from .resources.executions import Executions
from .resources.models import Models
from .resources.workflows import Workflows

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .._stores.journal import JournalSpec
    from .._telemetry import CallWatch

__all__ = ["Client"]

T = TypeVar("T")


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
        check_inputs: check the inputs of every workflow run against the workflow's schema
            before sending (default off; each call can say otherwise). The schema is read once
            per workflow and client (copies made by `with_options` share it); a mistake raises
            `InvalidInputsError` and nothing is sent. See ``workflows.run``.
        telemetry: report OpenTelemetry traces and metrics of every call. ``None`` (the
            default): when the OpenTelemetry API is installed (``pip install "knouds[otel]"``)
            and ``KNOUDS_TELEMETRY`` is not ``off``; ``True``: always (raises
            `ConfigurationError` without the API); ``False``: never (nothing is imported). See
            the Observability page.
        tracer_provider: the OpenTelemetry ``TracerProvider`` spans go to (default: the global
            one; without an SDK it records nothing).
        meter_provider: the OpenTelemetry ``MeterProvider`` metrics go to (default: the global
            one).

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
        check_inputs: bool = False,
        telemetry: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        check_client_settings(
            http_client,
            asynchronous=False,
            max_retries=max_retries,
            retry=retry,
            default_headers=default_headers,
            clock=clock,
            sleep=sleep,
            journal=journal,
            max_response_bytes=max_response_bytes,
            budget=budget,
        )
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
        self._open_journal(journal, now=True)
        self._check_inputs = check_inputs
        self._schemas = SchemaCache((self._namespace(),))
        self._telemetry = build_telemetry(telemetry, tracer_provider, meter_provider)
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
        check_inputs: bool | None = None,
    ) -> Client:
        """A copy with some settings changed, sharing this client's connection pool, its credit
        budget and usage report, its telemetry (the same providers), and (for the same key) its
        rate-limit state and the workflow schemas ``check_inputs`` read. Closing the copy leaves
        the pool open; closing this client closes it. A copy keeps working after this client is
        garbage-collected.

        Args:
            api_key: another API key (``None``: this client's).
            base_url: another base URL (``None``: this client's).
            timeout: another per-attempt timeout (not given: this client's).
            max_retries: another ``max_retries`` for the retry policy (not given: this client's).
            retry: another `RetryPolicy` (``None``: this client's).
            pace: turn pacing on or off (``None``: as this client).
            default_headers: headers added to this client's (``None``: none added).
            check_inputs: check workflow inputs against their schema (``None``: as this client).
        """
        check_copy_settings(max_retries, retry, default_headers)
        kwargs = self._copy_kwargs(
            api_key, base_url, timeout, max_retries, retry, pace, default_headers
        )
        checks = self._check_inputs if check_inputs is None else check_inputs
        copy = Client(
            http_client=self._http,
            sleep=self._sleep,
            check_inputs=checks,
            telemetry=False,
            **kwargs,
        )
        copy._pool, copy._builds_pool = self._pool.take(), False
        copy._adopt_state(self)
        copy._schemas = self._schemas.for_copy(copy._schemas.owner)
        copy._telemetry = self._telemetry  # the same providers and instruments
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
        """A call with nothing to claim, hold or record (reads, CRUD, whoami)."""
        return self._perform(Call(ctx, parse))

    def _perform(self, call: Call[T], watch: CallWatch | None = None) -> T:
        """Run one call through the pipeline (``knouds/_core/pipeline.py``), in its own span
        when telemetry is on (or reporting to ``watch``, the span of the call it is part of)."""
        if self.is_closed:
            raise _closed_error()
        telemetry = self._telemetry
        if watch is not None:
            return drive(
                call_flow(call), exchange=self._exchange, sleep=self._sleep, observer=watch
            )
        if telemetry is not None:
            watch = telemetry.watch(call.ctx)
        if watch is None:
            return drive(call_flow(call), exchange=self._exchange, sleep=self._sleep)
        try:
            value = drive(
                call_flow(call), exchange=self._exchange, sleep=self._sleep, observer=watch
            )
        except BaseException as error:
            watch.end(error=error)
            raise
        watch.end(value)
        return value

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
                return _closed_error(in_flight=True)
            if raised_by_the_sdk(exc):
                raise  # a bug of the SDK's own, never reported as "may have been processed"
            return exc

    def close(self) -> None:
        """Close the client and the rate-limit store's connection (if this client opened it from
        a URL). Closing the client you built also closes the connection pool its
        ``with_options`` copies share (a pool passed in as ``http_client`` is left open);
        closing a copy leaves the pool to the others."""
        if self._closed:
            return
        self._closed = True
        run_here(True, self._close_journal)
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


publish(globals())
