"""Checks of the settings every public call takes, before anything is sent or opened.

Each function returns the value it checked (converted where that helps: a number of seconds
becomes a ``float``) or raises `ConfigurationError` naming the parameter and the value it was
given. Pure functions, stdlib only at import time: the modules that need httpx or the stores are
imported by the few checks that use them.

A ``bool`` is never accepted where a number is expected: ``concurrency=True`` is a mistake, not
one worker.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from .._exceptions import ConfigurationError
from .._types import NOT_GIVEN

if TYPE_CHECKING:
    from .._types import TimeoutTypes

__all__ = [
    "bad_setting",
    "check_batch",
    "check_call",
    "check_callable",
    "check_copy_settings",
    "check_count",
    "check_credits",
    "check_download",
    "check_name",
    "check_retry",
    "check_seconds",
]

_SHOWN = 80  # the longest repr of a value a message repeats


def _show(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails is still named by its type
        return f"an object of type {type(value).__name__!r}"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def bad_setting(
    name: str, expected: str, value: object, *, show: bool = True, got: str | None = None
) -> ConfigurationError:
    """The error for a setting that is unusable: its name, what it must be, and what it was
    (only its type with ``show=False``, for values that may hold secrets; ``got`` when the
    caller knows how to show it)."""
    if got is None:
        got = _show(value) if show else f"an object of type {type(value).__name__!r}"
    return ConfigurationError(f"{name} must be {expected}, got {got}; nothing was sent.")


def _real(value: object) -> float | None:
    """``value`` as a float when it is a real number (never a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):  # an int no float can hold, or worse
        return None


def check_count(value: object, name: str, *, minimum: int = 0) -> int:
    """A whole number ``>= minimum`` (an integer type: not a float, not a bool)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        count = int(value)
        if count >= minimum:
            return count
    raise bad_setting(name, f"a whole number >= {minimum}", value)


def check_seconds(
    value: object,
    name: str,
    *,
    allow_zero: bool = False,
    allow_infinity: bool = False,
) -> float:
    """A number of seconds: ``> 0`` (``>= 0`` with ``allow_zero``), finite unless
    ``allow_infinity``; never NaN."""
    seconds = _real(value)
    if (
        seconds is not None
        and not math.isnan(seconds)
        and (allow_infinity or math.isfinite(seconds))
        and (seconds > 0 or (allow_zero and seconds == 0))
    ):
        return seconds
    sign = ">= 0" if allow_zero else "> 0"
    kind = "a number" if allow_infinity else "a finite number"
    raise bad_setting(name, f"{kind} of seconds {sign}", value)


def check_credits(value: object, name: str) -> float:
    """A number of credits: finite and ``>= 0``."""
    credits = _real(value)
    if credits is not None and math.isfinite(credits) and credits >= 0:
        return credits
    raise bad_setting(name, "a finite number of credits >= 0", value)


def check_callable(value: object, name: str) -> None:
    """A function, or ``None`` (the default)."""
    if value is not None and not callable(value):
        raise bad_setting(name, "a function (or None)", value)


def check_name(value: object, name: str) -> str:
    """A non-empty string."""
    if isinstance(value, str) and value.strip():
        return value
    raise bad_setting(name, "a non-empty string", value)


def check_retry(retry: object, name: str = "retry") -> None:
    """A `RetryPolicy`, or ``None`` (the client's policy)."""
    from .retry import RetryPolicy

    if retry is not None and not isinstance(retry, RetryPolicy):
        raise bad_setting(name, "a knouds.RetryPolicy (or None)", retry)


def _check_headers(headers: object, name: str) -> None:
    """A mapping of header names to values, or ``None`` (its values are never repeated)."""
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        raise bad_setting(name, "a mapping of header names to values", headers, show=False)
    from .settings import check_headers

    check_headers(headers, name.replace("_", " ").rstrip("s"))


def _check_timeout(timeout: object) -> None:
    """A per-attempt timeout (see `knouds._core.settings.to_timeout`), unless not given."""
    if timeout is not NOT_GIVEN and timeout is not None:
        from .settings import to_timeout

        to_timeout(cast("TimeoutTypes", timeout))


def check_call(*, timeout: object = None, extra_headers: object, retry: object) -> None:
    """The options every API call takes: ``timeout`` (``NOT_GIVEN`` for the client's; ``None``
    is no timeout), ``extra_headers`` and ``retry``. (Run on every call: the defaults cost
    nothing.)"""
    if timeout is not NOT_GIVEN and timeout is not None:
        _check_timeout(timeout)
    if extra_headers is not None:
        _check_headers(extra_headers, "extra_headers")
    if retry is not None:
        check_retry(retry)


def check_batch(concurrency: object, poll_interval: object, max_credits: object) -> None:
    """The settings of ``run_many`` besides those of each call."""
    check_count(concurrency, "concurrency", minimum=1)
    check_seconds(poll_interval, "poll_interval")
    if max_credits is not None:
        check_credits(max_credits, "max_credits")


def _check_http_client(http_client: object, *, asynchronous: bool) -> None:
    """An HTTP client of the right kind, or ``None``: one whose ``send`` is a coroutine function
    for async code (an ``httpx.AsyncClient``), a plain function for sync code (an
    ``httpx.Client``). Told apart by behaviour, so subclasses and wrappers pass."""
    if http_client is None:
        return
    send = getattr(http_client, "send", None)
    if callable(send) and inspect.iscoroutinefunction(send) == asynchronous:
        return
    kind = "an httpx.AsyncClient" if asynchronous else "an httpx.Client"
    raise bad_setting("http_client", f"{kind} (or None)", http_client, show=False)


def check_copy_settings(max_retries: object, retry: object, default_headers: object) -> None:
    """The settings ``with_options`` combines with the client's before building the copy (the
    copy's constructor checks the rest)."""
    from .._types import NotGiven

    if not isinstance(max_retries, NotGiven):
        check_count(max_retries, "max_retries")
    check_retry(retry)
    _check_headers(default_headers, "default_headers")


def check_download(
    *,
    max_bytes: object,
    timeout: object,
    http_client: object,
    asynchronous: bool,
    chunk_size: object = 1,
) -> None:
    """The settings of a media download (``Media.read``, ``save``, ``iter_bytes`` and their
    async twins, ``RunResult.save_all``)."""
    if max_bytes is not None:
        check_count(max_bytes, "max_bytes")
    check_count(chunk_size, "chunk_size", minimum=1)
    _check_timeout(timeout)
    _check_http_client(http_client, asynchronous=asynchronous)
