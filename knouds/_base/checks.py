"""Checks of the client's settings that need to know the stores (a `Journal`, a `Budget`, a
redis-py client); the rest are in ``knouds/_core/checks.py``."""

from __future__ import annotations

import os

from .._core.checks import (
    _check_headers,
    _check_http_client,
    bad_setting,
    check_callable,
    check_count,
    check_credits,
    check_retry,
)
from .._stores.budget import Budget
from .._stores.journal import Journal
from .._stores.redis import is_redis_client
from .._types import NotGiven

__all__ = ["check_client_settings", "check_journal_spec"]


def check_journal_spec(journal: object, name: str = "journal") -> None:
    """What ``journal=`` accepts: a `Journal`, a SQLite file path, a ``redis://`` URL, a
    redis-py client, or ``None``."""
    if journal is None:
        return
    if isinstance(journal, Journal) or is_redis_client(journal):
        return
    if isinstance(journal, os.PathLike) or (isinstance(journal, str) and journal.strip()):
        return
    raise bad_setting(
        name,
        "a SQLite file path, a redis:// URL, a redis-py client or a knouds.Journal",
        journal,
    )


def check_client_settings(
    http_client: object,
    *,
    asynchronous: bool,
    max_retries: object,
    retry: object,
    default_headers: object,
    clock: object,
    sleep: object,
    journal: object,
    max_response_bytes: object,
    budget: object,
) -> None:
    """The settings of ``Client(...)`` and ``AsyncClient(...)`` that are not checked as the
    client is configured (``api_key``, ``base_url``, ``timeout`` and the rate-limit store are)."""
    _check_http_client(http_client, asynchronous=asynchronous)
    if not isinstance(max_retries, NotGiven):
        check_count(max_retries, "max_retries")
    check_retry(retry)
    _check_headers(default_headers, "default_headers")
    check_callable(clock, "clock")
    check_callable(sleep, "sleep")
    check_journal_spec(journal)
    check_count(max_response_bytes, "max_response_bytes", minimum=1)
    if budget is not None and not isinstance(budget, Budget):
        check_credits(budget, "budget")
