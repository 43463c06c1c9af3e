"""The journal's rules: how runs are named (per account), what an entry holds, what a stored
error keeps, and the errors a journaled run raises. No storage here: the backends
(``knouds/_stores/``) only store entries, atomically; the pipeline (`pipeline`) decides.

A journaled run claims its key before the request is sent (state ``started``), records the
execution id right after an async submission (``submitted``), and records how it ended
(``completed`` with the result, ``failed`` with the error, ``rejected`` when nothing ran,
``unknown`` when the outcome cannot be known). A later run with the same key reads that record
instead of sending.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from .. import _exceptions as errors
from .._exceptions import (
    APIStatusError,
    ConfigurationError,
    ExecutionCancelledError,
    IdempotencyConflictError,
    KnoudsError,
    UnknownOutcomeError,
)
from .._public import publish
from .redaction import mask

if TYPE_CHECKING:
    from ..models import RunResult

__all__ = [
    "DEFAULT_STALE_AFTER",
    "DEFAULT_TTL",
    "EntryState",
    "JournalClaim",
    "JournalEntry",
    "JournalKeys",
    "KeyedInputs",
    "batch_keys",
    "default_key",
    "describe_error",
    "inputs_digest",
    "interrupted_error",
    "rebuild_error",
    "still_in_flight",
    "unknown_outcome",
]

EntryState = Literal["started", "submitted", "completed", "failed", "rejected", "unknown"]
DEFAULT_TTL = 7 * 24 * 3600.0
"""Seconds a journal entry is kept after it was last written (a week)."""
DEFAULT_STALE_AFTER = 3600.0
"""Seconds after which a run started on another machine counts as dead."""
_MAX_KEY = 500


# -- keys --------------------------------------------------------------------------------------


def _canonical(target: str, inputs: Mapping[str, Any], server: str) -> bytes:
    payload = {"server": server, "target": target, "inputs": inputs}
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        # Inputs that cannot be sent still get a key (a batch keys every input first); their run
        # is refused with InvalidInputsError before anything is recorded.
        try:
            text = repr(payload)
        except Exception:  # an int past the digit limit, a repr that raises...
            try:
                text = _outline(payload, 0)
            except Exception:  # a mapping that cannot even be read: one key for all of them
                text = f"{server}|{target}|<inputs that cannot be read>"
    # A lone surrogate (which json.loads can produce) is kept as it is, not refused here.
    return text.encode("utf-8", "surrogatepass")


_MAX_OUTLINE_DEPTH = 64


def _outline(value: object, depth: int) -> str:
    """A stable text of ``value`` for a key when neither JSON nor ``repr`` can write it: the
    values JSON knows written out (an integer of any size in hex), others named by their type."""
    if depth > _MAX_OUTLINE_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items = sorted(
            f"{_outline(k, depth + 1)}:{_outline(v, depth + 1)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_outline(item, depth + 1) for item in value) + "]"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"int:{value:#x}"  # hex has no digit limit
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return float.hex(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def inputs_digest(target: str, inputs: Mapping[str, Any], server: str = "") -> str:
    """A stable hash of a run's server, endpoint and inputs (key order does not matter).

    ``server`` is the API base URL the run is sent to: the same inputs sent to another server
    (the emulator, a staging deployment) are another run, never answered from this one's record.
    """
    return hashlib.sha256(_canonical(target, inputs, server)).hexdigest()


def default_key(target: str, inputs: Mapping[str, Any], server: str = "") -> str:
    """The key of a run given no ``idempotency_key``: its endpoint and a hash of its server,
    endpoint and inputs."""
    return f"{target}:{inputs_digest(target, inputs, server)[:32]}"


def batch_keys(
    target: str, inputs_list: Iterable[Mapping[str, Any]], server: str = ""
) -> list[str]:
    """One key per input of a batch: the default key and how often the same inputs came before.

    Repeated inputs (four variations of one prompt) are four runs, not one; re-running the same
    list gives the same keys, which is what lets a batch resume.
    """
    seen: dict[str, int] = {}
    keys = []
    for inputs in inputs_list:
        base = default_key(target, inputs, server)
        count = seen.get(base, 0)
        seen[base] = count + 1
        keys.append(f"{base}#{count}")
    return keys


# -- entries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    """One run's record in a journal.

    Attributes:
        key: the run's key (the ``idempotency_key``, or one derived from the endpoint and inputs).
        state: ``started`` (sent or about to be; no end recorded yet), ``submitted`` (an async
            execution was started: ``execution_id``), ``completed`` (``result``), ``failed``
            (the run ended with an error: ``error``), ``rejected`` (the error proves nothing ran,
            or the run was interrupted before its request left; the next run with this key sends
            it again) or ``unknown`` (it ended with an error, or was interrupted, in a way that
            leaves open whether it ran).
        target: the endpoint, ``models/<name>`` or ``workflows/<slug>``.
        inputs_hash: a hash of the inputs (a key reused with other inputs is refused).
        owner: ``host/pid/nonce`` of the process that claimed it.
        token: the claim's id (changes when a run is sent again).
        started_at, updated_at, expires_at: epoch seconds.
        execution_id: the async execution, once submitted.
        result: the result as Knouds returned it (``success``, ``result``, ``cost``, ``ms``).
        error: the error, as ``type``, ``message``, ``status_code``, ``code``, ``body``.
    """

    key: str
    state: EntryState
    target: str
    inputs_hash: str
    owner: str
    token: str
    started_at: float
    updated_at: float
    expires_at: float
    execution_id: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> str:
        """The entry as a JSON object (how the backends store it)."""
        # Not dataclasses.asdict: its deep copy of the stored result costs more than the write.
        return json.dumps({name: getattr(self, name) for name in _FIELDS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JournalEntry:
        """The entry stored as `to_json` wrote it."""
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    @property
    def finished(self) -> bool:
        """Whether the run's end was recorded (completed, failed or rejected)."""
        return self.state in ("completed", "failed", "rejected")

    def run_result(self) -> RunResult:
        """The stored result as a `RunResult` (``from_journal`` is ``True``)."""
        from ..models import RunResult

        run = RunResult.model_validate(self.result or {})
        run._from_journal = True
        return run

    def stored_error(self) -> KnoudsError:
        """The stored error, rebuilt as the knouds error class it was."""
        return rebuild_error(self.error or {})


_FIELDS = tuple(JournalEntry.__dataclass_fields__)


def describe_error(error: KnoudsError, secret: str | None = None) -> dict[str, Any]:
    """What the journal keeps of an error: no response objects, and ``secret`` (the API key)
    replaced by ``***`` wherever the server's body or the message echoed it, whole or its secret
    part alone (what follows a ``knouds_<kind>_`` prefix)."""
    body = getattr(error, "body", None)
    message = error.message
    try:
        text = json.dumps(body)
    except (TypeError, ValueError, RecursionError):
        body = None
    else:
        masked = mask(text, secret)
        if masked != text:
            try:
                body = json.loads(masked)
            except (ValueError, RecursionError):  # pragma: no cover - a key that is no plain text
                body = None
    return {
        "type": type(error).__name__,
        "message": mask(message, secret),
        "status_code": getattr(error, "status_code", None),
        "code": getattr(error, "code", None),
        "body": body,
    }


def rebuild_error(data: Mapping[str, Any]) -> KnoudsError:
    """The knouds error a `describe_error` dict came from (its class, message and fields)."""
    cls = getattr(errors, str(data.get("type")), None)
    message = str(data.get("message") or "The journaled run failed")
    if isinstance(cls, type) and issubclass(cls, APIStatusError):
        return cls(
            message,
            status_code=data.get("status_code"),
            code=data.get("code"),
            body=data.get("body"),
        )
    if cls is ExecutionCancelledError:
        return ExecutionCancelledError(message)
    return KnoudsError(message)


@dataclass
class JournalClaim:
    """The answer to a claim: ``claimed`` (this caller sends the run) or the existing entry."""

    claimed: bool
    entry: JournalEntry


class KeyedInputs(dict[str, Any]):
    """A batch input carrying its journal key (so the batch runner need not know keys)."""

    journal_key: str = ""


def account_tag(api_key: str | None, base_url: str) -> str:
    """A name for the account a client's runs belong to: an HMAC of the base URL keyed by the
    API key. The key itself is never stored, and cannot be read back from the tag."""
    secret = (api_key or "").encode()
    return hmac.new(secret, base_url.rstrip("/").encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class JournalKeys:
    """How one account's runs are named in a journal: one account, one history.

    A run's key names the server, the endpoint and the inputs (or is the ``idempotency_key``);
    its entry is bound to the account (`account_tag`, inside the inputs hash). So a client of
    another account (another API key) reaching the same key is refused with
    `IdempotencyConflictError`: it is never answered from this account's runs, and never sends
    them again. (The same holds after rotating an API key: finish a resumed batch with the key
    that started it.)
    """

    server: str
    account: str

    @classmethod
    def of(cls, api_key: str | None, base_url: str) -> JournalKeys:
        """The keys of the account ``api_key`` holds on the server at ``base_url``."""
        server = base_url.rstrip("/")
        return cls(server, account_tag(api_key, server))

    def digest(self, target: str, inputs: Mapping[str, Any]) -> str:
        """The hash binding a run to this account, its server, endpoint and inputs (a key
        reached with another account or other inputs is refused)."""
        return inputs_digest(target, inputs, f"{self.server}|{self.account}")

    def run_key(self, target: str, inputs: Mapping[str, Any], key: object) -> str:
        """The journal key of one run: its ``idempotency_key``, else the key a batch tagged the
        inputs with, else one derived from the server, endpoint and inputs.

        Raises:
            ConfigurationError: ``key`` is not a non-empty string of at most 500 characters.
        """
        if key is None:
            tagged = getattr(inputs, "journal_key", None)
            return tagged or default_key(target, inputs, self.server)
        if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
            raise ConfigurationError(
                "idempotency_key must be a non-empty string of at most "
                f"{_MAX_KEY} characters, got {_short(key)}; nothing was sent."
            )
        return key

    def tag_batch(self, target: str, inputs_list: Iterable[object]) -> list[Any]:
        """The batch's inputs, each tagged with its key from `batch_keys` (inputs that are not
        mappings are passed through: the run refuses them before anything is recorded)."""
        items = list(inputs_list)
        plain = [item if isinstance(item, Mapping) else {} for item in items]
        tagged: list[Any] = []
        for item, key in zip(items, batch_keys(target, plain, self.server), strict=True):
            if isinstance(item, Mapping):
                keyed = KeyedInputs(item)
                keyed.journal_key = key
                tagged.append(keyed)
            else:
                tagged.append(item)
        return tagged


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def unknown_outcome(entry: JournalEntry) -> UnknownOutcomeError:
    """The error for a run that may have run: what happened and how to resolve it."""
    if entry.state == "unknown" and entry.error:
        how = f"its last attempt ended with: {entry.error.get('message')}"
    else:
        how = f"process {entry.owner} never recorded how it ended (it stopped mid-run)"
    return UnknownOutcomeError(
        f"The journaled run {entry.key!r} ({entry.target}) started at {_when(entry.started_at)}"
        f" and {how}. It may have run and been charged, so it is not sent again. If it did not "
        "run, send it again with resend_unknown=True (knouds batch --resend-unknown) or "
        f"journal.forget({entry.key!r}); if it did, settle it with "
        f"journal.mark_failed({entry.key!r}, note).",
        key=entry.key,
        entry=entry,
    )


def still_in_flight(
    key: str, entry: JournalEntry, deadline: float | None
) -> IdempotencyConflictError:
    """The error for a caller whose deadline ran out while the key's run was in flight."""
    return IdempotencyConflictError(
        f"The key {key!r} is still in flight elsewhere (process {entry.owner}, started at "
        f"{_when(entry.started_at)}) and the call's deadline ({deadline or 0:g} s) ran out "
        "waiting for it; nothing was sent. Call again later to get its result.",
        key=key,
    )


def interrupted_error(interrupt: BaseException, *, sent: bool) -> dict[str, Any]:
    """What the journal keeps of a run ended by something other than a knouds error (an
    interrupt, a cancellation, a test's assertion, a task queue's time limit)."""
    name = type(interrupt).__name__
    if sent:
        message = f"Interrupted ({name}) after the request may have been sent"
    else:
        message = f"Interrupted ({name}) before the request was sent"
    return {"type": "KnoudsError", "message": message, "status_code": None, "code": None}


publish(globals())
