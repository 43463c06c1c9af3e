"""The journal's rules that users meet: the key of an input JSON cannot encode, and what the
errors and records of a journaled run tell (see docs/journal.md)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import knouds
from knouds._core.journal import (
    JournalEntry,
    JournalKeys,
    account_tag,
    default_key,
    describe_error,
    inputs_digest,
    interrupted_error,
    rebuild_error,
    still_in_flight,
    unknown_outcome,
)

HUGE = 10**5000  # past the digit limit of json.dumps and repr: keyed by the fallback outline


def key(inputs: Mapping[str, Any], target: str = "models/m", server: str = "") -> str:
    return default_key(target, inputs, server)


def nested(value: object, depth: int) -> object:
    for _ in range(depth):
        value = [value]
    return value


class Thing:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class OtherThing(Thing):
    pass


class Unreadable(Mapping[str, Any]):
    """A mapping that can be neither encoded, written by repr, nor iterated."""

    def __getitem__(self, name: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        raise RuntimeError("unreadable")


# -- keys of inputs JSON cannot encode -----------------------------------------------------------

DIFFERENT = {
    "another integer": ({"n": HUGE}, {"n": HUGE + 1}),
    "a negative integer": ({"n": HUGE}, {"n": -HUGE}),
    "a small integer": ({"n": HUGE, "x": 1}, {"n": HUGE, "x": 2}),
    "name and value swapped": ({"n": HUGE, "a": "b"}, {"n": HUGE, "b": "a"}),
    "a colon moved": ({"n": HUGE, "a": "b:c"}, {"n": HUGE, "a:b": "c"}),
    "a comma moved": ({"n": HUGE, "a": "1", "b": "2"}, {"n": HUGE, "a": "1,b:2"}),
    "true or 1": ({"n": HUGE, "x": True}, {"n": HUGE, "x": 1}),
    "false or 0": ({"n": HUGE, "x": False}, {"n": HUGE, "x": 0}),
    "null or the text None": ({"n": HUGE, "x": None}, {"n": HUGE, "x": "None"}),
    "a float or an integer": ({"n": HUGE, "x": 1.0}, {"n": HUGE, "x": 1}),
    "another float": ({"n": HUGE, "x": 0.1}, {"n": HUGE, "x": 0.2}),
    "a text or a number": ({"n": HUGE, "x": "1"}, {"n": HUGE, "x": 1}),
    "a text or a list": ({"n": HUGE, "x": "a"}, {"n": HUGE, "x": ["a"]}),
    "a list or a mapping": ({"n": HUGE, "x": {"a": 1}}, {"n": HUGE, "x": ["a", 1]}),
    "how lists nest": ({"n": [HUGE, [1, 2]]}, {"n": [HUGE, [1], 2]}),
    "an item more": ({"n": [HUGE, 1]}, {"n": [HUGE, 1, 1]}),
    "another type": ({"n": HUGE, "x": b"1"}, {"n": HUGE, "x": bytearray(b"1")}),
    "another class": ({"x": Thing()}, {"x": OtherThing()}),
    "deep down": ({"n": nested([HUGE, 1], 61)}, {"n": nested([HUGE, 2], 61)}),
    "a name deep down": ({"n": nested({"a": HUGE}, 61)}, {"n": nested({"b": HUGE}, 61)}),
    "deeper than Python recurses": (
        {"n": [1, nested(HUGE, 100_000)]},
        {"n": [2, nested(HUGE, 100_000)]},
    ),
}


@pytest.mark.parametrize(("one", "other"), list(DIFFERENT.values()), ids=list(DIFFERENT))
def test_unencodable_inputs_that_differ_are_different_runs(
    one: dict[str, Any], other: dict[str, Any]
) -> None:
    # Two inputs with one key would be answered from each other's record.
    assert key(one) != key(other)
    assert key(one) == key(one)


def test_an_unencodable_inputs_key_names_its_server_and_target_and_ignores_key_order() -> None:
    inputs = {"n": HUGE, "a": 1, "b": [2, HUGE]}
    same = {"b": [2, HUGE], "a": 1, "n": HUGE}
    assert key(inputs) == key(same)
    assert key(inputs, server="https://a.test") != key(inputs, server="https://b.test")
    assert key(inputs, target="models/a") != key(inputs, target="models/b")


def test_inputs_that_cannot_be_read_still_get_a_key_naming_server_and_target() -> None:
    odd = Unreadable()
    assert key(odd) == key(Unreadable())
    assert key(odd, server="https://a.test") != key(odd, server="https://b.test")
    assert key(odd, target="models/a") != key(odd, target="models/b")
    assert key(odd) != key({"n": HUGE})


def test_the_keys_of_unencodable_inputs_do_not_change_between_processes_or_releases() -> None:
    # A batch keys every input before it runs; the process (or the release) that resumes it must
    # give each input the same key as the one that started it.
    assert (
        key(
            {
                "n": HUGE,
                "below": -HUGE,
                "flags": [True, False, None],
                "ratio": 0.1,
                "prompt": "é\ud800",
                "size": {"w": 1, "h": 2},
                "pair": (1, 2),
                "raw": b"x",
                "day": datetime.date(2026, 1, 1),
            }
        )
        == "models/m:9c166f5e780ca466defea774d3d79f1d"
    )
    assert key({"n": nested(HUGE, 100)}) == "models/m:62f747b4cca5b6d58c86c63b62c568bf"
    assert key({"n": nested({"a": HUGE}, 62)}) == "models/m:944f67c72ea27052fa72ba7e0febb349"
    assert key(Unreadable(), server="https://a.test") == "models/m:374b2305f8d902ba5ad3ce689a73a490"


# -- what a journaled run's errors tell ----------------------------------------------------------

STARTED = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's clock set to a zone far from UTC (times in messages are UTC)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def entry(state: Any = "started", error: dict[str, Any] | None = None) -> JournalEntry:
    return JournalEntry(
        key="order-1234",
        state=state,
        target="models/gpt-image-2",
        inputs_hash="h",
        owner="build-7/4242/abc",
        token="t",
        started_at=STARTED,
        updated_at=STARTED + 5,
        expires_at=STARTED + 3600,
        error=error,
    )


@pytest.mark.usefixtures("far_from_utc")
def test_a_run_that_never_recorded_its_end_names_its_key_its_process_and_the_ways_out() -> None:
    error = unknown_outcome(entry("started"))

    message = str(error)
    assert (error.key, error.entry) == ("order-1234", entry("started"))
    assert "'order-1234' (models/gpt-image-2)" in message
    assert "started at 2026-05-28 20:26:40 UTC" in message
    assert "process build-7/4242/abc never recorded how it ended" in message
    assert "may have run and been charged" in message
    assert "resend_unknown=True" in message
    assert "--resend-unknown" in message
    assert "journal.forget('order-1234')" in message
    assert "journal.mark_failed('order-1234', note)" in message


def test_a_run_that_ended_unknown_tells_how_its_last_attempt_ended() -> None:
    stored = {"type": "APITimeoutError", "message": "The read timed out after 30 s"}
    error = unknown_outcome(entry("unknown", stored))

    message = str(error)
    assert "its last attempt ended with: The read timed out after 30 s" in message
    assert "never recorded" not in message
    assert "journal.forget('order-1234')" in message
    assert "resend_unknown=True" in message
    assert error.entry.state == "unknown"


@pytest.mark.parametrize(
    ("state", "stored"),
    [("unknown", None), ("unknown", {}), ("started", {"message": "an earlier attempt"})],
)
def test_without_an_error_of_its_own_an_unknown_run_names_the_process_that_left_it(
    state: str, stored: dict[str, Any] | None
) -> None:
    message = str(unknown_outcome(entry(state, stored)))
    assert "process build-7/4242/abc never recorded how it ended" in message
    assert "an earlier attempt" not in message


@pytest.mark.usefixtures("far_from_utc")
@pytest.mark.parametrize(
    ("deadline", "shown"), [(2.5, "(2.5 s)"), (30.0, "(30 s)"), (None, "(0 s)")]
)
def test_a_deadline_that_ran_out_on_a_run_in_flight_says_where_it_runs_and_to_call_again(
    deadline: float | None, shown: str
) -> None:
    error = still_in_flight("order-1234", entry("started"), deadline)

    message = str(error)
    assert isinstance(error, knouds.IdempotencyConflictError)
    assert error.key == "order-1234"
    assert "'order-1234'" in message
    assert "process build-7/4242/abc, started at 2026-05-28 20:26:40 UTC" in message
    assert f"deadline {shown} ran out" in message
    assert "nothing was sent" in message
    assert "Call again later" in message


@pytest.mark.parametrize(
    ("sent", "says"),
    [(True, "after the request may have been sent"), (False, "before the request was sent")],
)
def test_an_interrupted_run_records_what_stopped_it_and_whether_the_request_may_have_left(
    sent: bool, says: str
) -> None:
    recorded = interrupted_error(KeyboardInterrupt(), sent=sent)

    # Stored as describe_error stores a knouds error, and read back as one.
    assert set(recorded) <= set(describe_error(knouds.KnoudsError("x")))
    assert (recorded["type"], recorded["status_code"], recorded["code"]) == (
        "KnoudsError",
        None,
        None,
    )
    rebuilt = rebuild_error(recorded)
    assert type(rebuilt) is knouds.KnoudsError
    assert str(rebuilt) == f"Interrupted (KeyboardInterrupt) {says}"
    shown = str(unknown_outcome(entry("unknown", recorded)))
    assert f"ended with: Interrupted (KeyboardInterrupt) {says}" in shown


@pytest.mark.parametrize("stored", [{}, {"type": "KnoudsError"}, {"type": "X", "message": ""}])
def test_a_stored_error_without_a_message_still_says_the_run_failed(
    stored: dict[str, Any],
) -> None:
    rebuilt = rebuild_error(stored)
    assert type(rebuilt) is knouds.KnoudsError
    assert str(rebuilt) == "The journaled run failed"


def test_a_stored_error_keeps_its_status_its_code_and_the_body_the_server_sent() -> None:
    stored = {
        "type": "RateLimitError",
        "message": "slow down",
        "status_code": 429,
        "code": "RATE_LIMITED",
        "body": {"error": "slow down"},
    }
    rebuilt = rebuild_error(stored)
    assert isinstance(rebuilt, knouds.RateLimitError)
    assert (rebuilt.status_code, rebuilt.code, rebuilt.body) == (
        429,
        "RATE_LIMITED",
        {"error": "slow down"},
    )
    assert rebuilt.message == "slow down"


@pytest.mark.parametrize(
    ("kind", "rebuilt_as"),
    [
        ("ExecutionCancelledError", knouds.ExecutionCancelledError),
        ("ConfigurationError", knouds.KnoudsError),  # no status: a plain knouds error
        ("__name__", knouds.KnoudsError),  # a name in the errors module that is no class
        (None, knouds.KnoudsError),
    ],
)
def test_a_stored_error_is_rebuilt_as_its_class_or_a_plain_knouds_error(
    kind: str | None, rebuilt_as: type[knouds.KnoudsError]
) -> None:
    rebuilt = rebuild_error({"type": kind, "message": "it ended"})
    assert type(rebuilt) is rebuilt_as
    assert str(rebuilt) == "it ended"


# -- what an entry gives back, and what the journal keeps ----------------------------------------


def test_an_entry_gives_back_its_stored_result_marked_as_from_the_journal() -> None:
    stored = {"success": True, "result": {"text": "ok"}, "cost": 3, "ms": 5}
    done = JournalEntry("k", "completed", "models/m", "h", "o", "t", 1.0, 2.0, 3.0, result=stored)

    run = done.run_result()
    assert run.from_journal
    assert (run.cost, run.result) == (3, {"text": "ok"})


def test_an_entry_gives_back_its_stored_error_or_a_plain_failure() -> None:
    stored = {"type": "ExecutionFailedError", "message": "the model crashed", "status_code": None}
    failed = JournalEntry("k", "failed", "models/m", "h", "o", "t", 1.0, 2.0, 3.0, error=stored)
    bare = JournalEntry("k", "failed", "models/m", "h", "o", "t", 1.0, 2.0, 3.0)

    assert isinstance(failed.stored_error(), knouds.ExecutionFailedError)
    assert str(failed.stored_error()).startswith("the model crashed")
    assert type(bare.stored_error()) is knouds.KnoudsError
    assert str(bare.stored_error()) == "The journaled run failed"


def test_the_journal_keeps_no_body_it_cannot_store_or_mask() -> None:
    secret = "knouds_live_12345678"
    unstorable = knouds.APIStatusError("bad", status_code=500, body={"at": object()})
    # Masking the key's secret part out of this body leaves no JSON: the body is dropped.
    unmaskable = knouds.APIStatusError("bad", status_code=500, body={"n": 12345678})

    assert describe_error(unstorable, secret)["body"] is None
    assert describe_error(unmaskable, secret)["body"] is None
    assert describe_error(unmaskable)["body"] == {"n": 12345678}  # no key to hide


def test_a_default_key_is_the_target_and_the_inputs_digest() -> None:
    inputs = {"prompt": "fox", "n": 1}
    assert default_key("models/m", inputs) == "models/m:" + inputs_digest("models/m", inputs)[:32]


def test_the_account_tag_of_a_client_without_a_key_is_unchanged() -> None:
    # The emulator's journals (no API key) keep resolving after an upgrade.
    tag = account_tag(None, "http://127.0.0.1:8000")
    assert tag == account_tag("", "http://127.0.0.1:8000") == "605e68e490af4c57"


def test_only_trailing_slashes_are_dropped_from_a_server() -> None:
    keys = JournalKeys.of("knouds_live_x", "https://gw.test/X/")
    assert keys.server == "https://gw.test/X"
    assert keys.account == account_tag("knouds_live_x", "https://gw.test/X")
    assert keys.account != account_tag("knouds_live_x", "https://gw.test/")


def test_an_input_after_one_that_is_no_mapping_keeps_its_key() -> None:
    # The refused input counts as an empty one: the empty input after it is the second.
    keys = JournalKeys.of("knouds_live_x", "https://knouds.ai")
    tagged = keys.tag_batch("models/m", ["not a mapping", {}])
    assert tagged[0] == "not a mapping"
    assert tagged[1].journal_key == default_key("models/m", {}, "https://knouds.ai") + "#1"


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (b"a" * 57, repr(b"a" * 57)),  # 60 characters: shown whole
        (b"a" * 58, repr(b"a" * 58)[:57] + "..."),  # 61: cut to 60
        ("k" * 501, repr("k" * 501)[:57] + "..."),
        (7, "7"),
    ],
)
def test_a_refused_idempotency_key_is_shown_short(bad: object, shown: str) -> None:
    keys = JournalKeys.of("knouds_live_x", "https://knouds.ai")
    with pytest.raises(knouds.ConfigurationError) as refused:
        keys.run_key("models/m", {}, bad)
    assert f"got {shown}; nothing was sent" in str(refused.value)
