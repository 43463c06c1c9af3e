"""``knouds.webhooks.verify``: signatures, rotation, tampering, replay window, bad headers."""

from __future__ import annotations

import json

import pytest

import knouds
from knouds.webhooks import sign, verify

SECRET = "whsec_0123456789abcdef0123"
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "event": "execution.completed",
        "executionId": "e-1",
        "requestId": "req_1",
        "userId": "u-1",
        "workflowSlug": None,
        "modelIds": ["seedance-2-i2v"],
        "status": "completed",
        "result": {"videos": ["https://m.example/a.mp4"]},
        "futureField": 1,
    }
).encode()


def test_good_signature_gives_a_typed_event() -> None:
    event = verify(BODY, sign(BODY, SECRET, timestamp=NOW), SECRET, now=NOW)

    assert isinstance(event, knouds.WebhookEvent)
    assert event.event == "execution.completed"
    assert event.execution_id == "e-1"
    assert event.model_ids == ["seedance-2-i2v"]
    assert event.status == "completed"
    assert event.timestamp == NOW
    assert event.result == {"videos": ["https://m.example/a.mp4"]}


def test_str_body_and_failed_event() -> None:
    body = json.dumps(
        {"event": "execution.failed", "executionId": "e-2", "error": {"code": "X", "message": "m"}}
    )
    event = verify(body, sign(body, SECRET, timestamp=NOW), SECRET, now=NOW)
    assert event.error is not None
    assert event.error.code == "X"


def test_any_of_several_v1_entries_may_match() -> None:
    good = sign(BODY, SECRET, timestamp=NOW).split("v1=")[1]
    old = sign(BODY, "whsec_old_secret_000000", timestamp=NOW).split("v1=")[1]
    header = f"t={NOW},v1={old}, v1={good}"

    assert verify(BODY, header, SECRET, now=NOW).execution_id == "e-1"
    assert verify(BODY, header, "whsec_old_secret_000000", now=NOW).execution_id == "e-1"


def test_tampered_body_is_rejected() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(knouds.WebhookVerificationError, match="No signature"):
        verify(BODY.replace(b"e-1", b"e-9"), header, SECRET, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(knouds.WebhookVerificationError):
        verify(BODY, header, "whsec_someone_else_0000", now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_stale_or_future_timestamps_are_rejected(offset: int) -> None:
    header = sign(BODY, SECRET, timestamp=NOW + offset)
    with pytest.raises(knouds.WebhookVerificationError, match="tolerance"):
        verify(BODY, header, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_tolerance_pass(offset: int) -> None:
    assert verify(BODY, sign(BODY, SECRET, timestamp=NOW + offset), SECRET, now=NOW).event


def test_a_custom_tolerance() -> None:
    header = sign(BODY, SECRET, timestamp=NOW - 20)
    with pytest.raises(knouds.WebhookVerificationError):
        verify(BODY, header, SECRET, now=NOW, tolerance=10)


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "garbage", f"t={NOW}", "v1=abc", "t=soon,v1=abc", f"t={NOW},v1="],
)
def test_missing_or_malformed_header_is_rejected(header: str | None) -> None:
    with pytest.raises(knouds.WebhookVerificationError):
        verify(BODY, header, SECRET, now=NOW)


def test_signed_body_that_is_not_an_event_is_rejected() -> None:
    for body in (b"not json", b"[1, 2]", b'{"no": "event"}'):
        with pytest.raises(knouds.WebhookVerificationError):
            verify(body, sign(body, SECRET, timestamp=NOW), SECRET, now=NOW)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(knouds.WebhookVerificationError):
        verify(BODY, sign(BODY, SECRET, timestamp=NOW), "", now=NOW)
