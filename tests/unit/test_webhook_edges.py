"""Edges of webhook verification: which header fields count, timestamp bounds, the real clock."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

import knouds
from knouds import WebhookVerificationError
from knouds.webhooks import sign, verify

SECRET = "whsec_0123456789abcdef0123"
NOW = 1_700_000_000
BODY = json.dumps({"event": "execution.completed", "executionId": "e-1"}).encode()


def digest(timestamp: int, body: bytes = BODY, secret: str = SECRET) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_sign_and_verify_use_the_real_clock_by_default() -> None:
    header = sign(BODY, SECRET)
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(stamp - time.time()) < 60
    assert verify(BODY, header, SECRET).execution_id == "e-1"


def test_a_signature_under_another_scheme_does_not_count() -> None:
    good = digest(NOW)
    for header in (f"t={NOW},v0={good}", f"t={NOW},v2={good}", f"t={NOW},{good}={good}"):
        with pytest.raises(WebhookVerificationError):
            verify(BODY, header, SECRET, now=NOW)


def test_fields_without_a_value_are_skipped_not_fatal() -> None:
    good = digest(NOW)
    assert verify(BODY, f"junk,t={NOW},v1=,v1={good}", SECRET, now=NOW).timestamp == NOW
    assert verify(BODY, f"t={NOW}, scheme , v1={good}", SECRET, now=NOW).timestamp == NOW


def test_a_malformed_second_timestamp_rejects_the_delivery() -> None:
    good = digest(NOW)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, f"t={NOW},t==5,v1={good}", SECRET, now=NOW)


def test_timestamps_have_at_most_twelve_digits() -> None:
    twelve = 999_999_999_999
    header = f"t={twelve},v1={digest(twelve)}"
    assert verify(BODY, header, SECRET, now=twelve).timestamp == twelve
    thirteen = 1_000_000_000_000
    with pytest.raises(WebhookVerificationError):
        verify(BODY, f"t={thirteen},v1={digest(thirteen)}", SECRET, now=thirteen)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_named(header: str | None) -> None:
    with pytest.raises(WebhookVerificationError, match="X-Knouds-Signature"):
        verify(BODY, header, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("payload", "secret", "timestamp"),
    [
        (b"{}", "", None),
        (b"{}", None, None),
        (b"{}", b"whsec_bytes", None),
        ({"event": "x"}, "whsec_test", None),
        ("\udcff", "whsec_test", None),
        (b"{}", "whsec_\udcff", None),
        (b"{}", "whsec_test", float("nan")),
        (b"{}", "whsec_test", -1),
        (b"{}", "whsec_test", True),
        (b"{}", "whsec_test", "1700000000"),
    ],
    ids=[
        "empty-secret",
        "no-secret",
        "bytes-secret",
        "dict-payload",
        "surrogate-payload",
        "surrogate-secret",
        "nan-timestamp",
        "negative-timestamp",
        "bool-timestamp",
        "text-timestamp",
    ],
)
def test_sign_refuses_what_it_cannot_sign_as_verify_does(
    payload: Any, secret: Any, timestamp: Any
) -> None:
    with pytest.raises(knouds.ConfigurationError):
        sign(payload, secret, timestamp=timestamp)


def test_sign_cuts_a_float_timestamp_to_whole_seconds() -> None:
    assert sign(BODY, SECRET, timestamp=1_700_000_000.9) == sign(
        BODY, SECRET, timestamp=1_700_000_000
    )


@pytest.mark.parametrize(
    ("secret", "shown"),
    [("", "''"), (None, "None"), (b"whsec_bytes", "a bytes"), (12345, "a int")],
    ids=["empty", "none", "bytes", "int"],
)
def test_a_missing_or_wrong_secret_is_described_as_given(secret: Any, shown: str) -> None:
    expected = f"No webhook secret given (secret must be a non-empty string, got {shown})"
    with pytest.raises(knouds.ConfigurationError) as signing:
        sign(BODY, secret, timestamp=NOW)
    assert str(signing.value) == f"{expected}."
    with pytest.raises(WebhookVerificationError) as verifying:
        verify(BODY, sign(BODY, SECRET, timestamp=NOW), secret, now=NOW)
    assert str(verifying.value) == f"{expected}: cannot verify the delivery."
    assert isinstance(verifying.value, knouds.ConfigurationError)


@pytest.mark.parametrize("timestamp", [0, 0.5])
def test_sign_accepts_the_epoch_itself(timestamp: float) -> None:
    header = sign(BODY, SECRET, timestamp=timestamp)
    assert header == f"t=0,v1={digest(0)}"
    assert verify(BODY, header, SECRET, now=0).timestamp == 0


@pytest.mark.parametrize("tolerance", [0, 0.5])
def test_a_tolerance_below_one_second_is_allowed(tolerance: float) -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    assert verify(BODY, header, SECRET, now=NOW, tolerance=tolerance).timestamp == NOW
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(BODY, header, SECRET, now=NOW + 1, tolerance=tolerance)


def test_a_header_with_non_ascii_text_is_refused_saying_so() -> None:
    header = f"t={NOW},v1={digest(NOW)}é"
    with pytest.raises(WebhookVerificationError) as caught:
        verify(BODY, header, SECRET, now=NOW)
    assert str(caught.value) == "The X-Knouds-Signature header holds non-ASCII text."
