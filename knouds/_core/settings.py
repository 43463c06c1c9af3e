"""The one place that reads the environment and validates client settings."""

from __future__ import annotations

import ipaddress
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from .._exceptions import ConfigurationError
from .._types import NOT_GIVEN, NotGiven, TimeoutTypes
from .._version import __version__
from .redaction import mask

__all__ = [
    "ACCEPT_ENCODING",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "NO_PLAIN_HTTP_PROXY",
    "DEFAULT_TIMEOUT",
    "RATE_LIMIT_STORE_ENV",
    "Settings",
    "missing_key_error",
    "resolve_rate_limit_store",
    "resolve_settings",
    "to_timeout",
]

API_KEY_ENV = "KNOUDS_API_KEY"
BASE_URL_ENV = "KNOUDS_BASE_URL"
RATE_LIMIT_STORE_ENV = "KNOUDS_RATE_LIMIT_STORE"
# Values of rate_limit_store that mean "count in this process" (useful to override the variable).
LOCAL_STORE_NAMES = ("local", "memory")
DEFAULT_BASE_URL = "https://knouds.ai"
DEFAULT_CONNECT_TIMEOUT = 10.0
# Video runs take minutes: reads (and waits for a pooled connection) get ten minutes, connecting
# gets ten seconds so an unreachable host fails fast.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=DEFAULT_CONNECT_TIMEOUT)
# Many long runs in flight at once: httpx's default of 100 connections would queue the 101st.
DEFAULT_LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
# Only encodings whose decompression can be counted as it goes (see
# `knouds._transports.deadline`); with brotli or zstandard installed httpx would otherwise ask for
# "br" and "zstd" too.
ACCEPT_ENCODING = "gzip, deflate"
# The largest response body read (after decompression). Knouds answers with JSON that points at
# media by URL: real bodies are kilobytes, so this only stops a broken or hostile server.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Plain-HTTP base URLs are loopback only; sending them through a proxy from the environment
# (HTTP_PROXY, ALL_PROXY) would hand the API key in clear text to another machine. HTTPS still
# goes through such proxies, which then see only an encrypted tunnel.
NO_PLAIN_HTTP_PROXY: dict[str, None] = {"http://": None}
USER_AGENT = (
    f"knouds-python/{__version__} httpx/{httpx.__version__} python/{platform.python_version()}"
)


@dataclass(frozen=True)
class Settings:
    """Validated client settings."""

    api_key: str | None
    base_url: httpx.URL
    timeout: httpx.Timeout
    headers: dict[str, str]

    def __repr__(self) -> str:
        return f"Settings(base_url={str(self.base_url)!r}, timeout={self.timeout!r})"


def to_timeout(value: TimeoutTypes) -> httpx.Timeout:
    """A float (seconds, connect capped at the default connect timeout), an ``httpx.Timeout``, or
    ``None`` (no timeout at all) as an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        for part in ("connect", "read", "write", "pool"):
            seconds = getattr(value, part)
            if seconds is not None and (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not math.isfinite(seconds)
                or seconds <= 0  # 0 would give up at once, a read after the run was sent
            ):
                raise ConfigurationError(
                    f"timeout {part} must be a positive, finite number of seconds (None for no "
                    f"limit), got {seconds!r}; nothing was sent."
                )
        return value
    if value is None:
        return httpx.Timeout(None)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            "timeout must be a positive, finite number of seconds (None for no timeout), "
            f"got {value!r}; nothing was sent."
        )
    return httpx.Timeout(float(value), connect=min(float(value), DEFAULT_CONNECT_TIMEOUT))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe_url(value: object, secret: str | None = None) -> str:
    """A base URL as an error message may show it: no credentials, query or fragment, and never
    the API key or its secret part (people paste it into the wrong setting)."""
    text = mask(str(value).strip(), secret)  # first: a key may hold "?", "#" or "/"
    scheme, sep, rest = text.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        authority = authority.rpartition("@")[2]
        text = f"{scheme}://{authority}{slash}{path}"
    text = text.split("?", 1)[0].split("#", 1)[0]
    return repr(text if len(text) <= 100 else text[:99] + "…")


def validate_base_url(value: str | httpx.URL, *, secret: str | None = None) -> httpx.URL:
    """Parse a base URL; only HTTPS is accepted, except to a loopback host. Error messages
    never repeat credentials, a query, or ``secret``."""
    shown = _describe_url(value, secret)
    try:
        url = httpx.URL(str(value).strip())
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError(f"base_url {shown} is not a valid URL.") from None
    if url.userinfo:
        raise ConfigurationError(
            "base_url must not contain credentials: pass the key as api_key instead."
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url {shown} must be an absolute http(s) URL such as {DEFAULT_BASE_URL!r}."
        )
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"base_url {shown} uses plain HTTP: the API key would travel unencrypted. "
            "Use https:// (plain http:// is only allowed to localhost)."
        )
    path = url.path.rstrip("/")
    return url.copy_with(path=path or "", query=None, fragment=None)


def check_headers(headers: Mapping[str, str] | None, what: str) -> dict[str, str]:
    """Header names and values a request can carry (ASCII strings, no line breaks), lowercased.

    Raises:
        ConfigurationError: naming the header, never repeating its value.
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not (isinstance(name, str) and isinstance(value, str)) or not _header_safe(name + value):
            raise ConfigurationError(
                f"{what} {name!r} cannot be sent: header names and values must be ASCII "
                "strings without line breaks."
            )
        checked[name.lower()] = value
    return checked


def _header_safe(text: str) -> bool:
    return text.isascii() and not any(c in text for c in "\r\n\0")


def resolve_settings(
    api_key: str | None,
    base_url: str | httpx.URL | None,
    timeout: TimeoutTypes | NotGiven,
    default_headers: Mapping[str, str] | None,
) -> Settings:
    """Fill unset settings from the environment and validate them all."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    # No key is fine until a call needs one (`missing_key_error`): public endpoints work without.
    if key is not None and not isinstance(key, str):
        raise ConfigurationError(f"api_key must be a string, got {type(key).__name__}.")
    key = key.strip() if key is not None and key.strip() else None
    if key is not None and (not _header_safe(key) or not key.isprintable()):
        raise ConfigurationError(
            "The Knouds API key contains characters a header cannot carry (it must be printable "
            "ASCII): check that it was copied whole."
        )
    url = validate_base_url(
        base_url if base_url is not None else (os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL),
        secret=key,
    )
    headers = {
        "user-agent": USER_AGENT,
        "accept": "application/json",
        "accept-encoding": ACCEPT_ENCODING,
    }
    headers.update(check_headers(default_headers, "default header"))
    if key is not None:
        headers["x-api-key"] = key
    return Settings(
        api_key=key,
        base_url=url,
        timeout=DEFAULT_TIMEOUT if isinstance(timeout, NotGiven) else to_timeout(timeout),
        headers=headers,
    )


def missing_key_error() -> ConfigurationError:
    """The error of an authenticated call made by a client without an API key."""
    return ConfigurationError(
        f"No Knouds API key: pass api_key=... or set the {API_KEY_ENV} environment variable "
        "(only public endpoints such as workflows.public_schema work without one)."
    )


def merge_timeout(default: httpx.Timeout, override: TimeoutTypes | NotGiven) -> httpx.Timeout:
    """The per-call timeout: the override when given, else the client default."""
    return (
        default if override is NOT_GIVEN or isinstance(override, NotGiven) else to_timeout(override)
    )


def resolve_rate_limit_store(value: object) -> object | None:
    """The rate-limit store setting: ``None`` for in-process pacing, else a Redis URL or client.

    ``None`` reads ``KNOUDS_RATE_LIMIT_STORE`` (unset or empty: in-process). ``"local"`` always
    means in-process. Anything else must be a ``redis://`` / ``rediss://`` / ``unix://`` URL or a
    redis-py client.
    """
    if value is None:
        value = os.environ.get(RATE_LIMIT_STORE_ENV, "").strip() or None
        if value is None:
            return None
    if isinstance(value, str):
        if value.strip().lower() in LOCAL_STORE_NAMES:
            return None
        if not is_redis_url(value):
            raise ConfigurationError(
                "rate_limit_store must be a redis:// or rediss:// URL, a redis-py client, or "
                f"'local', got {_describe_url(value)}; nothing was sent."
            )
        return value
    return value  # an object: the store checks it is a redis-py client


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_url(value: object) -> bool:
    """Whether ``value`` is a string naming a Redis server (``redis://``, ``rediss://``,
    ``unix://``)."""
    return isinstance(value, str) and value.strip().lower().startswith(REDIS_SCHEMES)
