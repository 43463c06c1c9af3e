"""Every error the SDK raises.

All of them derive from `KnoudsError`::

    KnoudsError
    ├── ConfigurationError                  (a bad setting: no API key, insecure base URL, a
    │                                        negative timeout...; also a ValueError)
    ├── BudgetExceededError                 (a run refused by the SDK's credit budget; nothing sent)
    ├── APIConnectionError ── APITimeoutError
    ├── APIResponseValidationError          (2xx body that is not what the contract says)
    ├── WebhookVerificationError
    ├── MediaDownloadError                  (a media file could not be fetched: url, status_code)
    ├── ExecutionCancelledError             (an async execution ended cancelled)
    ├── ExecutionTimeoutError               (executions.wait gave up; the execution goes on)
    ├── StoreError                          (a store the SDK keeps its state in failed)
    │   ├── RateLimitStoreError             (the shared rate-limit store did not answer)
    │   ├── BudgetStoreError                (a shared credit budget's store did not answer)
    │   └── JournalError                    (the run journal failed: nothing was sent)
    │       ├── UnknownOutcomeError         (a journaled run never recorded its end: key, entry)
    │       └── IdempotencyConflictError    (a key reused for another run: key)
    └── APIStatusError                      (status_code, code, message, body, response, rate_limit)
        ├── BadRequestError (400) ── InvalidInputsError, InvalidSlugError, InvalidBodyError,
        │                            AsyncNotSupportedError, InvalidScopeError,
        │                            InvalidCapabilityError
        ├── AuthenticationError (401) ── LegacyKeyRetiredError
        ├── PaymentRequiredError (402) ── InsufficientCreditsError, GrantExhaustedError
        ├── PermissionDeniedError (403) ── ScopeDeniedError (required, actual),
        │                                  CapabilityDeniedError (required), ModelTierRequiredError,
        │                                  CapabilityAboveCeilingError (attempted),
        │                                  APIKeyAccessDeniedError
        ├── NotFoundError (404) ── ModelNotFoundError, WorkflowNotFoundError, ExecutionNotFoundError
        ├── RateLimitError (429)             (retry_after seconds, limit, tier)
        └── InternalServerError (5xx) ── ExecutionFailedError

The class is chosen on two axes: the error ``code`` picks it where the code is known, the HTTP
status otherwise. An unknown code keeps its string on ``.code``. Errors caught before anything is
sent (a malformed model name, ``inputs`` that is not a mapping) use the class the server's code
would map to, with ``status_code=None``; a bad setting (``timeout=-1``, ``concurrency=0``,
``Budget(-1)``...) raises `ConfigurationError`, naming the parameter, before anything is sent.

``ApiKeyAccessDeniedError`` is the former name of `APIKeyAccessDeniedError` (the same class).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from ._public import publish

if TYPE_CHECKING:
    import httpx

    from .models import Execution
    from .models._ratelimit import RateLimit

__all__ = [
    "APIConnectionError",
    "APIKeyAccessDeniedError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKeyAccessDeniedError",
    "AsyncNotSupportedError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "BudgetStoreError",
    "CapabilityAboveCeilingError",
    "CapabilityDeniedError",
    "ConfigurationError",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionTimeoutError",
    "GrantExhaustedError",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidBodyError",
    "InvalidCapabilityError",
    "InvalidInputsError",
    "InvalidScopeError",
    "InvalidSlugError",
    "IdempotencyConflictError",
    "JournalError",
    "KnoudsError",
    "LegacyKeyRetiredError",
    "MediaDownloadError",
    "ModelNotFoundError",
    "ModelTierRequiredError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitStoreError",
    "ScopeDeniedError",
    "StoreError",
    "UnknownOutcomeError",
    "WebhookVerificationError",
    "WorkflowNotFoundError",
]


class KnoudsError(Exception):
    """Base class of every error raised by the SDK.

    Every knouds error survives ``pickle`` (process pools, task queues) with its attributes; the
    request and response it holds travel without the API key.
    """

    message: str
    # The run pipeline's verdict on the run this error ended ("rejected", "failed" or
    # "unknown"), set where a run ended in it; the command line reports it.
    _verdict: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, so pickle rebuilds the error without calling
        # ``__init__`` and then restores its attributes (an error can cross a process pool).
        # The request kept on an error carries the API key: it is dropped from the pickled copy.
        return (_unpickle, (type(self), self.args), _without_key(self.__dict__))


def _without_key(state: dict[str, Any]) -> dict[str, Any]:

    import httpx

    def scrub_request(request: httpx.Request) -> httpx.Request:
        clean = copy.copy(request)
        clean.headers = httpx.Headers(
            [(k, v) for k, v in request.headers.multi_items() if k.lower() != "x-api-key"]
        )
        return clean

    clean = dict(state)
    for name, value in state.items():
        if isinstance(value, httpx.Request):
            clean[name] = scrub_request(value)
        elif isinstance(value, httpx.Response):
            try:
                request = value.request
            except RuntimeError:  # a response built without a request
                continue
            response = clean[name] = copy.copy(value)
            response.request = scrub_request(request)
    return clean


def _unpickle(cls: type[KnoudsError], args: tuple[object, ...]) -> KnoudsError:
    error = cls.__new__(cls)
    error.args = args
    return error


class ConfigurationError(KnoudsError, ValueError):
    """A setting is unusable: the client's (no API key, a non-HTTPS base URL, ...) or a call's
    (``timeout=-1``, ``run_many(concurrency=0)``, ``Budget(-1)``, ``RetryPolicy(deadline=0)``...).

    Raised before anything is sent, with a message naming the parameter and the value it was
    given. It is a ``ValueError`` too, so ``except ValueError`` keeps catching it.
    """


class BudgetExceededError(KnoudsError):
    """A run was refused before anything was sent: it would spend past a credit budget.

    Raised by the client's ``budget`` and by ``run_many(..., max_credits=...)``; it is a decision
    of the SDK, not an answer of the API (no status code, nothing was charged for it).

    Attributes:
        limit: the budget in credits.
        spent: credits counted against the budget so far (in its current period).
        held: credits expected from runs in flight when the run was refused.
        requested: the credits the refused run or batch was expected to cost (``0`` when unknown).
        scope: ``"client"`` for the client's budget, ``"batch"`` for a ``max_credits`` limit.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: float,
        spent: float,
        held: float = 0.0,
        requested: float = 0.0,
        scope: str = "client",
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.spent = spent
        self.held = held
        self.requested = requested
        self.scope = scope


class StoreError(KnoudsError):
    """A store the SDK keeps its state in failed: the shared rate-limit store
    (`RateLimitStoreError`), a shared credit budget's store (`BudgetStoreError`) or the run
    journal (`JournalError`, and its `UnknownOutcomeError` and `IdempotencyConflictError`).

    Catch it to handle every store failure in one place; when a run is refused for it, nothing
    was sent.
    """


class RateLimitStoreError(StoreError):
    """The shared rate-limit store (Redis) did not answer and the client was told to raise
    rather than pace on its own (``rate_limit_store_fallback="raise"``). Nothing was sent."""


class BudgetStoreError(StoreError):
    """A shared credit budget's store (Redis) could not be reached. Runs are refused meanwhile
    (with `BudgetExceededError`, caused by this error); reading `Budget.spent`, `Budget.held` or
    `Budget.remaining` raises it."""


class APIConnectionError(KnoudsError):
    """The request could not be completed: the connection failed or broke.

    Attributes:
        request: the request that failed, when there was one.
        sent: ``False`` when the request provably never reached the server (connection refused,
            connect or pool timeout); ``True`` when it may have reached it.
    """

    def __init__(
        self,
        message: str = "Could not connect to Knouds.",
        *,
        request: httpx.Request | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """The request timed out (connecting, waiting for a pooled connection, or reading)."""


class APIResponseValidationError(KnoudsError):
    """Knouds answered with a success status but a body that breaks the API contract."""

    def __init__(
        self, message: str, *, response: httpx.Response | None = None, body: object = None
    ) -> None:
        super().__init__(message)
        self.response = response
        self.body = body
        self.status_code: int | None = response.status_code if response is not None else None


class WebhookVerificationError(KnoudsError):
    """A webhook delivery failed verification: missing or malformed header, bad signature, or a
    timestamp outside the tolerance. Reject the delivery (answer 400) when you see this."""


class MediaDownloadError(KnoudsError):
    """A run's media file could not be downloaded or saved: an error status (an expired link
    answers 403), a refused URL or redirect, a file over ``max_bytes``, or a broken connection.

    Attributes:
        url: the URL that failed (after redirects), or ``None``.
        status_code: the HTTP status of the media server's answer, or ``None`` when there was none.
    """

    def __init__(
        self, message: str, *, url: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class MediaSaveError(MediaDownloadError, OSError):
    """A media file could not be written to disk: a directory that cannot be created, no
    permission, a full disk. It is also an ``OSError`` (with the disk error's ``errno``,
    ``strerror`` and ``filename``), so ``except OSError`` keeps catching it.

    Attributes:
        path: the file that was being written, or ``None``.
    """

    def __init__(self, message: str, *, url: str | None = None, path: str | None = None) -> None:
        super().__init__(message, url=url)
        self.path = path


class MediaFileExistsError(MediaSaveError, FileExistsError):
    """``save(..., overwrite=False)`` found the file already there: nothing was downloaded
    over it. It is also a ``FileExistsError``."""


class APIStatusError(KnoudsError):
    """Knouds answered with an error status (or rejected the call before it was sent).

    Attributes:
        status_code: the HTTP status, or ``None`` when the SDK refused the call before sending.
        code: the API's error code (``"MODEL_NOT_FOUND"``, ...), or ``None`` when the body has none.
        message: the server's message (or the SDK's, for local checks).
        body: the decoded JSON body, the raw text when it was not JSON, or ``None``.
        response: the ``httpx.Response``, or ``None`` for local checks.
        rate_limit: the ``X-RateLimit-*`` state the response carried, or ``None``.
    """

    hint: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        body: object = None,
        response: httpx.Response | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.body = body
        self.response = response
        self.rate_limit = rate_limit

    def __str__(self) -> str:
        return describe(self)

    def _headline(self) -> str:
        # The server's message with the status and code, once: a message that already carries
        # them (text of an error made from another error's) does not get them twice.
        where = [] if self.status_code is None else [f"HTTP {self.status_code}"]
        if self.code:
            where.append(self.code)
        head = self.message.strip()
        tag = f"({' '.join(where)})"
        if not where or tag in head:
            return head
        return f"{head.rstrip('.').rstrip()} {tag}"

    def _more_advice(self) -> tuple[str, ...]:
        """Sentences a subclass adds after the hint (the wait a 429 asked for, say)."""
        return ()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )

    @staticmethod
    def _field(body: object, name: str) -> Any:
        return body.get(name) if isinstance(body, dict) else None


class BadRequestError(APIStatusError):
    """400: the request was malformed."""


class InvalidInputsError(BadRequestError):
    """400 ``INVALID_INPUTS``: ``inputs`` is missing, not an object, or holds invalid values."""

    hint = "Check the inputs against the model's parameters or the workflow's schema."


class InvalidSlugError(BadRequestError):
    """400 ``INVALID_SLUG``: a model name or workflow slug has characters outside ``[a-z0-9-]``."""

    hint = "Names are lowercase letters, digits and single hyphens, like 'gpt-image-2'."


class InvalidBodyError(BadRequestError):
    """400 ``INVALID_BODY``: the body is not valid JSON or misses required fields."""


class AsyncNotSupportedError(BadRequestError):
    """400 ``ASYNC_NOT_SUPPORTED``: this model's provider cannot run asynchronously."""

    hint = "Use run() instead of submit() for this model."


class InvalidScopeError(BadRequestError):
    """400 ``INVALID_SCOPE``: unknown scope at key creation."""


class InvalidCapabilityError(BadRequestError):
    """400 ``INVALID_CAPABILITY``: malformed capability at key creation."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, malformed or revoked."""

    hint = "Check the api_key argument or the KNOUDS_API_KEY environment variable."


class LegacyKeyRetiredError(AuthenticationError):
    """401 ``LEGACY_KEY_RETIRED``: the key predates capability keys; regenerate it."""

    hint = "Regenerate the API key in the Knouds dashboard."


class PaymentRequiredError(APIStatusError):
    """402: the run cannot be paid for. Never retried."""


class InsufficientCreditsError(PaymentRequiredError):
    """402 ``INSUFFICIENT_CREDITS``: the balance is too low for this run."""

    hint = "Top up your Knouds credits, then run again."


class GrantExhaustedError(PaymentRequiredError):
    """402 ``grant_exhausted``: the trial grant for this model is used up."""

    hint = "Topping up does not help here: upgrade your Knouds plan to keep using this model."


class PermissionDeniedError(APIStatusError):
    """403: the key is not allowed to do this."""


class ScopeDeniedError(PermissionDeniedError):
    """403 ``SCOPE_DENIED`` (older keys): the key's scope is below what the endpoint needs.

    Attributes:
        required: the scope the endpoint needs, e.g. ``"admin"``.
        actual: the key's scope.
    """

    hint = "Use a key with a higher scope."

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required: str | None = self._field(self.body, "required")
        self.actual: str | None = self._field(self.body, "actual")


class CapabilityDeniedError(PermissionDeniedError):
    """403 ``CAPABILITY_DENIED``: the key lacks a capability.

    Attributes:
        required: the capability needed, e.g. ``"model:run"``.
    """

    hint = "Create a key that holds the required capability."

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required: str | None = self._field(self.body, "required")


class ModelTierRequiredError(PermissionDeniedError):
    """403 ``MODEL_TIER_REQUIRED``: the model needs a higher plan tier."""

    hint = "Upgrade your Knouds plan to use this model."


class CapabilityAboveCeilingError(PermissionDeniedError):
    """403 ``CAPABILITY_ABOVE_CEILING``: a capability above the tier at key creation.

    Attributes:
        attempted: the capability that was refused.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempted: str | None = self._field(self.body, "attempted")


class APIKeyAccessDeniedError(PermissionDeniedError):
    """403 ``API_KEY_ACCESS_DENIED``: the Free tier cannot create keys.

    ``ApiKeyAccessDeniedError``, its former name, is the same class.
    """


ApiKeyAccessDeniedError = APIKeyAccessDeniedError
"""The former name of `APIKeyAccessDeniedError` (the same class), kept working."""


class NotFoundError(APIStatusError):
    """404: no such model, workflow or execution."""


class ModelNotFoundError(NotFoundError):
    """404 ``MODEL_NOT_FOUND``: no enabled registry model has this name.

    Older docs said built-in canvas models (nano-banana-2, Seedream V5, Kling V3, Claude Sonnet)
    answer this; the newer docs list them as runnable model names (sync only).
    """

    hint = "Check the model name: its internalName, such as gpt-image-2."


class WorkflowNotFoundError(NotFoundError):
    """404 on a workflow route: no workflow you own has this slug."""

    hint = "Check the slug and that the key's account owns the workflow."


class ExecutionNotFoundError(NotFoundError):
    """404 on an execution route: no execution with this id is visible to the key."""

    hint = "Check the execution id."


class RateLimitError(APIStatusError):
    """429 ``RATE_LIMIT_EXCEEDED``, or a wait for the rate limit longer than the policy allows.

    Raised after retries are used up, or at once when the server asks for a wait above
    ``RetryPolicy.max_retry_wait``.

    Attributes:
        retry_after: seconds the server (or the client's pacing) says to wait, or ``None``.
        limit: the request limit per window, when known.
        tier: the plan tier the limit belongs to, when the body says.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit: int | None = None,
        tier: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        body_limit = self._field(self.body, "limit")
        self.limit = limit if limit is not None else _as_int(body_limit)
        if self.limit is None and self.rate_limit is not None:
            self.limit = self.rate_limit.limit
        body_tier = self._field(self.body, "tier")
        self.tier: str | None = (
            tier if tier is not None else (body_tier if isinstance(body_tier, str) else None)
        )

    def _more_advice(self) -> tuple[str, ...]:
        return () if self.retry_after is None else (f"Retry after {self.retry_after:g} s",)


class InternalServerError(APIStatusError):
    """5xx: Knouds or a proxy in front of it failed. Runs are not retried by default: the run may
    have happened."""


class ExecutionFailedError(InternalServerError):
    """The provider failed to run the model: 500 ``EXECUTION_FAILED`` on a synchronous run, or an
    async execution that ended ``failed`` (then ``code`` is the execution's error code and
    ``execution`` the final state).
    """

    def __init__(self, message: str, *, execution: Execution | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.execution = execution


class ExecutionCancelledError(KnoudsError):
    """An async execution ended ``cancelled``. ``execution`` holds its final state (a partial
    result may be present)."""

    def __init__(self, message: str, *, execution: Execution | None = None) -> None:
        super().__init__(message)
        self.execution = execution


class ExecutionTimeoutError(KnoudsError, TimeoutError):
    """``executions.wait`` gave up before the execution finished. The execution goes on:
    call ``wait(error.execution_id)`` again to resume."""

    def __init__(
        self, message: str, *, execution_id: str, execution: Execution | None = None
    ) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.execution = execution


class JournalError(StoreError):
    """The run journal could not be read or written (a locked or unwritable SQLite file, an
    unreachable Redis). Raised before the run is sent: a run the journal cannot record is not
    started."""


class UnknownOutcomeError(JournalError):
    """A journaled run started and never recorded its end, so it may have run and been charged.

    Nothing is sent again by default. Find out whether it ran (the Knouds dashboard lists runs),
    then either send it again (``resend_unknown=True``, or ``journal.forget(key)``) or settle it
    (``journal.mark_failed(key, note)``).

    Attributes:
        key: the run's journal key.
        entry: the journal entry (``state``, ``started_at``, ``owner``), or ``None``.
    """

    def __init__(self, message: str, *, key: str = "", entry: Any = None) -> None:
        super().__init__(message)
        self.key = key
        self.entry = entry

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, {"key": self.key, "entry": self.entry}))


class IdempotencyConflictError(JournalError):
    """An idempotency key was reused for a run of another endpoint or other inputs, or the
    call's deadline (``RetryPolicy(deadline=)``) ran out while the key's run was still in flight
    in another thread or process; nothing was sent. A key names one run: use a new key for new
    inputs; call again later for a run in flight.

    Attributes:
        key: the key.
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, {"key": self.key}))


def _rebuild(cls: type[KnoudsError], message: str, kwargs: dict[str, Any]) -> KnoudsError:
    return cls(message, **kwargs)


def sentences(*parts: str) -> str:
    """Join ``parts`` into one line of sentences: the one place a message meets its advice.

    Each part ends with a full stop (or its own ``!``/``?``); blank parts, and parts the text
    already says (an error's text made from another error's, a hint repeated), are left out.
    """
    text = ""
    for part in parts:
        part = " ".join(part.split())
        if not part:
            continue
        sentence = part if part.endswith((".", "!", "?")) else f"{part}."
        if sentence.casefold() in text.casefold():
            continue
        text = f"{text} {sentence}" if text else sentence
    return text


def describe(error: BaseException, advice: str | None = None) -> str:
    """``str(error)``, with ``advice`` in place of the error's own hint when given.

    For an `APIStatusError`: the message with its status and code, then the hint (or
    ``advice``), then what the error adds (the wait a 429 asked for). For any other error: its
    text, then ``advice``. The command line uses this to give its own advice (``--api-key``
    rather than the ``api_key`` argument) without repeating the SDK's.
    """
    if isinstance(error, APIStatusError):
        hint = error.hint if advice is None else advice
        return sentences(error._headline(), hint, *error._more_advice())
    return sentences(str(error), advice or "")


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


CODE_TO_CLASS: dict[str, type[APIStatusError]] = {
    "INVALID_INPUTS": InvalidInputsError,
    "INVALID_SLUG": InvalidSlugError,
    "INVALID_BODY": InvalidBodyError,
    "ASYNC_NOT_SUPPORTED": AsyncNotSupportedError,
    "INVALID_SCOPE": InvalidScopeError,
    "INVALID_CAPABILITY": InvalidCapabilityError,
    "LEGACY_KEY_RETIRED": LegacyKeyRetiredError,
    "INSUFFICIENT_CREDITS": InsufficientCreditsError,
    "grant_exhausted": GrantExhaustedError,
    "SCOPE_DENIED": ScopeDeniedError,
    "CAPABILITY_DENIED": CapabilityDeniedError,
    "MODEL_TIER_REQUIRED": ModelTierRequiredError,
    "CAPABILITY_ABOVE_CEILING": CapabilityAboveCeilingError,
    "API_KEY_ACCESS_DENIED": APIKeyAccessDeniedError,
    "MODEL_NOT_FOUND": ModelNotFoundError,
    "WORKFLOW_NOT_FOUND": WorkflowNotFoundError,
    "EXECUTION_NOT_FOUND": ExecutionNotFoundError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "EXECUTION_FAILED": ExecutionFailedError,
}

STATUS_TO_CLASS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def class_for(status: int | None, code: str | None) -> type[APIStatusError]:
    """The exception class for a status and code: the code wins where known, else the status."""
    if code is not None and code in CODE_TO_CLASS:
        return CODE_TO_CLASS[code]
    if status is not None:
        if status in STATUS_TO_CLASS:
            return STATUS_TO_CLASS[status]
        if status >= 500:
            return InternalServerError
    return APIStatusError


publish(globals())
