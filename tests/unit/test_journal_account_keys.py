"""How one account names its runs in a journal (`JournalKeys`): what a key and an entry's hash
depend on, and what they must not. These rules decide whether a run is answered from the journal
or sent (and paid) again."""

from __future__ import annotations

import re

import pytest

import knouds
from knouds._core.journal import (
    JournalKeys,
    KeyedInputs,
    account_tag,
    batch_keys,
    default_key,
    inputs_digest,
)

KEY = "knouds_live_test_0123456789abcdef"
OTHER = "knouds_live_test_fedcba9876543210"
SERVER = "https://knouds.ai"
TARGET = "models/gpt-image-2"


def test_the_account_tag_is_a_keyed_hash_of_the_server() -> None:
    tag = account_tag(KEY, SERVER)
    assert re.fullmatch(r"[0-9a-f]{16}", tag)
    assert tag == account_tag(KEY, SERVER + "/")  # a trailing slash names the same server
    assert tag != account_tag(OTHER, SERVER)  # another key: another account
    assert tag != account_tag(KEY, "https://staging.knouds.ai")  # another server
    assert tag != account_tag(KEY, "/" + SERVER)  # only a trailing slash is dropped
    assert account_tag(None, SERVER) == account_tag("", SERVER)  # no key: the anonymous one
    assert account_tag(None, SERVER) != tag
    assert KEY not in tag


def test_an_accounts_keys_name_its_server_without_a_trailing_slash() -> None:
    keys = JournalKeys.of(KEY, SERVER + "/")
    assert keys.server == SERVER
    assert keys.account == account_tag(KEY, SERVER)


def test_an_entrys_hash_binds_the_account_the_target_and_the_inputs() -> None:
    ours = JournalKeys.of(KEY, SERVER)
    theirs = JournalKeys.of(OTHER, SERVER)
    digest = ours.digest(TARGET, {"prompt": "fox", "n": 1})
    assert digest == ours.digest(TARGET, {"n": 1, "prompt": "fox"})  # key order aside
    assert digest != theirs.digest(TARGET, {"prompt": "fox", "n": 1})
    assert digest != ours.digest("workflows/gpt-image-2", {"prompt": "fox", "n": 1})
    assert digest != ours.digest(TARGET, {"prompt": "fox", "n": 2})
    assert digest == inputs_digest(TARGET, {"prompt": "fox", "n": 1}, f"{SERVER}|{ours.account}")


def test_a_default_key_names_the_target_and_a_hash_of_server_target_and_inputs() -> None:
    key = default_key(TARGET, {"prompt": "fox"}, SERVER)
    target, _, digest = key.partition(":")
    assert target == TARGET
    assert digest == inputs_digest(TARGET, {"prompt": "fox"}, SERVER)[:32]
    assert key != default_key(TARGET, {"prompt": "fox"}, "https://staging.knouds.ai")
    assert key != default_key(TARGET, {"prompt": "fox"})
    assert default_key(TARGET, {"prompt": "fox"}) == default_key(TARGET, {"prompt": "fox"}, "")


def test_a_runs_key_is_its_idempotency_key_its_batch_tag_or_a_default() -> None:
    keys = JournalKeys.of(KEY, SERVER)
    inputs = {"prompt": "fox"}
    assert keys.run_key(TARGET, inputs, "order-1") == "order-1"
    assert keys.run_key(TARGET, inputs, None) == default_key(TARGET, inputs, SERVER)
    tagged = KeyedInputs(inputs)
    tagged.journal_key = "models/gpt-image-2:abc#3"
    assert keys.run_key(TARGET, tagged, None) == "models/gpt-image-2:abc#3"
    assert keys.run_key(TARGET, tagged, "order-1") == "order-1"  # an explicit key wins
    # Keys do not name the account: one account's key is refused to another by the entry's hash.
    assert JournalKeys.of(OTHER, SERVER).run_key(TARGET, inputs, None) == keys.run_key(
        TARGET, inputs, None
    )
    assert keys.run_key(TARGET, inputs, "k" * 500) == "k" * 500


@pytest.mark.parametrize("key", ["", "k" * 501, 7, b"order-1"])
def test_a_bad_idempotency_key_is_refused(key: object) -> None:
    with pytest.raises(knouds.ConfigurationError, match="idempotency_key"):
        JournalKeys.of(KEY, SERVER).run_key(TARGET, {}, key)


def test_a_batch_tags_each_input_with_a_key_counting_repeats() -> None:
    keys = JournalKeys.of(KEY, SERVER)
    items: list[object] = [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "a"}, "not a mapping"]

    tagged = keys.tag_batch(TARGET, items)

    assert tagged[3] == "not a mapping"  # passed through: the run refuses it
    assert [dict(t) for t in tagged[:3]] == items[:3]
    names = [t.journal_key for t in tagged[:3]]
    repeat = [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "a"}, {}]
    assert names == batch_keys(TARGET, repeat, SERVER)[:3]
    assert names[0] == default_key(TARGET, {"prompt": "a"}, SERVER) + "#0"
    assert names[2] == default_key(TARGET, {"prompt": "a"}, SERVER) + "#1"
    assert keys.tag_batch(TARGET, iter(items))[0].journal_key == names[0]  # any iterable


def test_batch_keys_name_the_server_and_default_to_none() -> None:
    inputs = [{"prompt": "a"}]
    assert batch_keys(TARGET, inputs, SERVER) == [default_key(TARGET, inputs[0], SERVER) + "#0"]
    assert batch_keys(TARGET, inputs) == batch_keys(TARGET, inputs, "")
    assert batch_keys(TARGET, inputs) != batch_keys(TARGET, inputs, SERVER)
    assert batch_keys("workflows/x", inputs)[0].startswith("workflows/x:")
