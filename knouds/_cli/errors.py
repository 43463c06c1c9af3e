"""What the ``knouds`` command says when a command fails, and the exit status it ends with: one
status per kind of error, advice in the command line's words, URLs without credentials."""

from __future__ import annotations

from typing import NamedTuple, TextIO

from .inputs import UsageError
from .journal import redact_urls

__all__ = ["EXIT_CODES", "ExitCode", "exit_code_for"]


class ExitCode(NamedTuple):
    """One exit status of the command line.

    Attributes:
        code: the process exit status.
        meaning: what went wrong.
        advice: what to do about it (printed when the error itself does not say).
    """

    code: int
    meaning: str
    advice: str


_ADVICE_AUTH = "Check the key given by --api-key or KNOUDS_API_KEY."
EXIT_CODES: dict[str, ExitCode] = {
    # Keys are error class names, matched along the raised error's class hierarchy.
    "other": ExitCode(1, "any other error", "See the message above."),
    "usage": ExitCode(2, "bad command-line usage", "Run `knouds --help`."),
    # The SDK's configuration errors already say what to set.
    "ConfigurationError": ExitCode(3, "configuration", ""),
    "AuthenticationError": ExitCode(4, "authentication failed", _ADVICE_AUTH),
    "PermissionDeniedError": ExitCode(4, "permission denied", "Use a key allowed to do this."),
    "PaymentRequiredError": ExitCode(5, "payment required", "Top up credits or upgrade."),
    "NotFoundError": ExitCode(6, "not found", "Check the name, slug or execution id."),
    "RateLimitError": ExitCode(7, "rate limited", "Wait for the window to reset, then retry."),
    "BadRequestError": ExitCode(8, "bad request or inputs", "Check the inputs (-i key=value)."),
    "InternalServerError": ExitCode(9, "server error or execution failed", "Check, then retry."),
    "APIResponseValidationError": ExitCode(9, "malformed response", "Try again later."),
    "APIConnectionError": ExitCode(10, "connection failed or timed out", "Check the network."),
    "ExecutionCancelledError": ExitCode(11, "execution cancelled", "Submit the run again."),
    "ExecutionTimeoutError": ExitCode(12, "wait timed out", "Resume with `knouds wait ID`."),
    # The error says how to resolve it.
    "UnknownOutcomeError": ExitCode(13, "outcome unknown (a journaled run may have run)", ""),
    "BudgetExceededError": ExitCode(14, "credit budget reached", "Raise the credit limit."),
}


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit status for an error: the entry of its nearest class in `EXIT_CODES`."""
    if isinstance(error, UsageError):
        return EXIT_CODES["usage"]
    for cls in type(error).__mro__:
        if cls.__name__ in EXIT_CODES:
            return EXIT_CODES[cls.__name__]
    return EXIT_CODES["other"]


# SDK hints that name Python arguments or methods, in the command line's words. Keyed by the
# class that defines the hint, so a subclass with a hint of its own keeps it.
_CLI_HINTS = {
    "AuthenticationError": _ADVICE_AUTH,
    "AsyncNotSupportedError": "Use `knouds run` instead of `knouds submit` for this model.",
}


def _cli_hint(error: BaseException) -> str | None:
    for cls in type(error).__mro__:
        if "hint" in vars(cls):
            return _CLI_HINTS.get(cls.__name__)
    return None


def _report(error: BaseException, err: TextIO, secret: str | None = None) -> int:
    from knouds._exceptions import describe, sentences

    entry = exit_code_for(error)
    execution_id = getattr(error, "execution_id", None)
    resume = f"Resume with: knouds wait {execution_id}" if isinstance(execution_id, str) else ""
    advice = _cli_hint(error)
    if advice is None and not (resume or getattr(error, "hint", "")) and entry.code not in (1, 2):
        advice = entry.advice or None
    message = sentences(describe(error, advice), resume) or type(error).__name__
    message = redact_urls(" ".join(message.split()))
    if secret and secret.strip():
        # Errors from the SDK never hold the key; anything else raised on the way might.
        from .._core.redaction import mask

        message = mask(message, secret.strip())
    err.write(f"knouds: error: {message}\n")
    return entry.code
