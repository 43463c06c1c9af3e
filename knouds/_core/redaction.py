"""Keeping the API key out of everything the SDK shows or stores: error messages, error bodies,
journal records, the command line's output. One function masks every form the key may take in
foreign text (a server's answer, a transport's error): the whole key, and its secret part alone
(what follows the ``knouds_<kind>_`` prefix), which a server may echo without the prefix."""

from __future__ import annotations

import re
from typing import TypeVar

__all__ = ["mask", "mask_json", "secret_forms"]

T = TypeVar("T")
_KEY_PREFIX = re.compile(r"knouds_[A-Za-z0-9]+_")
_SHORTEST_SECRET_PART = 8  # a shorter part would mask ordinary words
MASK = "***"


def secret_forms(secret: str | None) -> list[str]:
    """The forms of ``secret`` to mask, longest first."""
    if not secret:
        return []
    forms = [secret]
    prefix = _KEY_PREFIX.match(secret)
    if prefix is not None and len(secret) - prefix.end() >= _SHORTEST_SECRET_PART:
        forms.append(secret[prefix.end() :])
    return forms


def mask(text: str, secret: str | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``."""
    for form in secret_forms(secret):  # the whole key first, then what would be left of it
        if form in text:
            text = text.replace(form, MASK)
    return text


def mask_json(value: T, secret: str | None) -> T:
    """``value`` with every form of ``secret`` masked in a string, or in the strings (keys
    included) of JSON-like nested dicts and lists. Anything else is returned as is."""
    if not secret:
        return value
    if isinstance(value, str):
        return mask(value, secret)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {mask_json(k, secret): mask_json(v, secret) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [mask_json(item, secret) for item in value]  # type: ignore[return-value]
    return value
