"""Keeping the API key out of everything the SDK shows or stores: error messages, error bodies,
journal records, the command line's output. One function masks every form the key may take in
foreign text (a server's answer, a transport's error): the whole key, and its secret part alone
(what follows the ``knouds_<kind>_`` prefix), which a server may echo without the prefix."""

from __future__ import annotations

import contextlib
import re
from typing import TypeVar

__all__ = ["mask", "mask_json", "scrub_chain", "secret_forms"]

T = TypeVar("T")
_KEY_PREFIX = re.compile(r"knouds_[A-Za-z0-9]+_")
_SHORTEST_SECRET_PART = 8  # a shorter part would mask ordinary words
MASK = "***"
_MAX_CHAIN = 32  # exceptions followed through __cause__ and __context__


def secret_forms(secret: str | None) -> tuple[str, ...]:
    """The texts to hide for ``secret``: the whole key, then its secret part alone when that is
    long enough to be told from ordinary words."""
    if not secret or not secret.strip():
        return ()
    secret = secret.strip()
    prefix = _KEY_PREFIX.match(secret)
    if prefix is not None and len(secret) - prefix.end() >= _SHORTEST_SECRET_PART:
        return (secret, secret[prefix.end() :])
    return (secret,)


def mask(text: str, secret: str | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``."""
    for form in secret_forms(secret):  # the whole key first, then what would be left of it
        if form in text:
            text = text.replace(form, MASK)
    return text


def mask_json(value: T, secret: str | None) -> T:
    """``value`` with every form of ``secret`` masked in a string, or in the strings (keys
    included) of JSON-like nested dicts and lists; a number whose digits spell a form becomes
    ``***``. Anything else is returned as is."""
    if not secret:
        return value
    if isinstance(value, str):
        return mask(value, secret)  # type: ignore[return-value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            text = str(value)
        except ValueError:  # an integer past Python's digit limit: no key is that long
            return value
        return MASK if mask(text, secret) != text else value  # type: ignore[return-value]
    if isinstance(value, dict):
        return {mask_json(k, secret): mask_json(v, secret) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [mask_json(item, secret) for item in value]  # type: ignore[return-value]
    return value


def _shows(error: BaseException, forms: tuple[str, ...]) -> bool:
    try:
        text = f"{error!s} {error!r}"
    except Exception:  # a broken __str__ shows nothing
        return False
    return any(form in text for form in forms)


def _scrub(error: BaseException, secret: str) -> None:
    error.args = tuple(mask(arg, secret) if isinstance(arg, str) else arg for arg in error.args)
    if isinstance(error, OSError):  # its text is built from these, not from args
        for name in ("strerror", "filename", "filename2"):
            value = getattr(error, name, None)
            if isinstance(value, str):
                setattr(error, name, mask(value, secret))
    message = getattr(error, "message", None)
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):  # a read-only property
            error.message = mask(message, secret)  # type: ignore[attr-defined]


def scrub_chain(error: BaseException, secret: str | None) -> bool:
    """Mask the key in the messages of ``error`` and of every exception it was raised from or
    while handling (``__cause__``, ``__context__``): a traceback shows them all.

    Only exceptions the SDK is about to wrap are given here (a transport's failure): their text
    is foreign, and nobody else holds them. Returns whether the whole chain is now free of the
    key; when it is not (an exception whose text does not come from its arguments), the caller
    must not chain from it.
    """
    forms = secret_forms(secret)
    if not forms:
        return True
    assert secret is not None
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _shows(current, forms):
            _scrub(current, secret)
            if _shows(current, forms):
                return False
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return not pending
