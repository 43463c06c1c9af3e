"""Journal keys of inputs JSON cannot carry: keying never raises, and the run refuses the input.

A journaled batch keys every input before any runs. An input that cannot be encoded (an integer
past Python's 4300-digit limit for ``repr`` and ``json.dumps``, a lone surrogate, a value whose
``repr`` raises) still gets a stable key; its own run is then refused with `InvalidInputsError`
before anything is sent or recorded, and the other inputs run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.journal import JournalKeys, batch_keys, default_key
from tests.conftest import json_response, resolve

MakeClient = Callable[..., Any]
OK_RUN = {"success": True, "result": {"text": "ok"}, "cost": 1, "ms": 5}


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


ODD_INPUTS = {
    "huge int": {"n": 10**5000},
    "huge int in a list": {"sizes": [1, 10**5000]},
    "lone surrogate": {"prompt": "\ud800"},
    "surrogate key": {"\udfff": "x"},
    "a repr that raises": {"thing": BadRepr()},
}


@pytest.mark.parametrize("odd", list(ODD_INPUTS.values()), ids=list(ODD_INPUTS))
def test_keying_an_unencodable_input_never_raises_and_is_stable(odd: dict[str, Any]) -> None:
    keys = batch_keys("models/m", [{"prompt": "a"}, odd, odd])
    assert keys == batch_keys("models/m", [{"prompt": "a"}, odd, odd])  # a batch can resume
    assert keys[2] == keys[1].replace("#0", "#1")
    assert default_key("models/m", odd) == keys[1].removesuffix("#0")
    assert JournalKeys.of("knouds_live_x", "https://api.example.test").digest("models/m", odd)


class PlainRepr:
    def __repr__(self) -> str:
        return "PlainRepr()"


def test_the_keys_journals_already_hold_are_unchanged() -> None:
    # A batch started before keeps resuming: sendable inputs, and unsendable ones with a repr.
    assert default_key("models/m", {"prompt": "fox", "n": 1}) == (
        "models/m:259479ace99dfacb1784960e1f13d889"
    )
    assert default_key("models/m", {"prompt": "é", "when": "set"}) == (
        "models/m:2c060b9bfd560db20c7ff18a53ddea0f"
    )
    assert default_key("models/m", {"thing": PlainRepr()}) == (
        "models/m:8fae752181b5785aa872669acd71f19d"
    )


@pytest.mark.parametrize("odd", list(ODD_INPUTS.values()), ids=list(ODD_INPUTS))
async def test_a_journaled_batch_refuses_an_unencodable_input_in_its_slot(
    make_client: MakeClient, tmp_path: Path, odd: dict[str, Any]
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return json_response(200, OK_RUN)

    path = tmp_path / "batch.sqlite"
    client = make_client(handler)
    inputs = [{"prompt": "a"}, odd, {"prompt": "b"}]
    results = await resolve(
        client.models.run_many("gpt-image-2", inputs, journal=str(path), return_exceptions=True)
    )

    first, refused, last = results
    assert isinstance(first, knouds.RunResult)
    assert isinstance(last, knouds.RunResult)
    assert isinstance(refused, knouds.InvalidInputsError)
    assert refused.status_code is None
    assert len(sent) == 2  # the other inputs ran; the odd one was never sent
    with sqlite3.connect(path) as conn:
        states = sorted(row[0] for row in conn.execute("SELECT data FROM knouds_runs"))
    assert len(states) == 2  # nothing recorded for the refused input

    again = await resolve(
        client.models.run_many("gpt-image-2", inputs, journal=str(path), return_exceptions=True)
    )
    assert [r.from_journal for r in (again[0], again[2])] == [True, True]  # resumed by key
    assert isinstance(again[1], knouds.InvalidInputsError)
    assert len(sent) == 2
