"""``knouds journal``: unknown outcomes of a ``knouds batch`` found, explained and settled from
the shell, against the emulator (and a real Redis for a ``redis://`` journal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import knouds
from knouds._cli.main import main
from knouds._stores.journal import mark_done, mark_in_flight
from knouds.testing import Emulator, Fault
from tests.e2e.conftest import prompt_of


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("KNOUDS_API_KEY", emulator.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emulator.base_url)
        yield emulator


def sent(emu: Emulator) -> list[str]:
    return [prompt_of(e.body) for e in emu.log if e.run is not None]


def lines_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_an_unknown_outcome_is_listed_settled_or_sent_again_from_the_shell(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"prompt": "a fox"}\n{"prompt": "an owl"}\n', encoding="utf-8")
    journal = str(tmp_path / "batch.sqlite")
    batch = ["batch", "gpt-image-2", str(inputs), "--journal", journal, "--concurrency", "1"]
    emu.inject(Fault.html(502), times=1, path="/api/models")  # "a fox": sent, answer lost

    assert main(batch) == 13
    captured = capsys.readouterr()
    first = lines_of(captured.out)
    assert [line["status"] for line in first] == ["unknown", "completed"]
    error = first[0]["error"]
    assert isinstance(error, dict)
    key = error["key"]
    assert "may have been processed" in error["message"] or "502" in error["message"]
    assert "nothing was sent" not in captured.err + captured.out
    assert f"knouds journal mark-failed {journal} KEY NOTE" in captured.err
    assert f"knouds journal list {journal} --state unknown" in captured.err

    # Listed, as a person reads it and as JSON.
    assert main(["journal", "list", journal, "--state", "unknown"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{key}  unknown  started ")
    assert len(captured.out.splitlines()) == 1
    assert f"1 unknown entry in {journal}" in captured.err
    assert f"knouds journal mark-failed {journal} KEY NOTE" in captured.err
    assert main(["journal", "list", journal, "--json"]) == 0
    listed = lines_of(capsys.readouterr().out)
    assert [(row["state"], row["target"]) for row in listed] == [
        ("unknown", "models/gpt-image-2"),
        ("completed", "models/gpt-image-2"),
    ]
    assert main(["journal", "show", journal, str(key)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["key"], shown["state"], shown["recorded_state"]) == (key, "unknown", "unknown")

    # Run again: not sent; its line says what to do, from the shell, in one consistent story.
    assert main(batch) == 13
    again = lines_of(capsys.readouterr().out)[0]
    assert isinstance(again["error"], dict)
    message = again["error"]["message"]
    assert again["error"]["key"] == key
    assert "Knouds may have run it and charged for it, so it was not sent again" in message
    assert f"`knouds journal forget {journal} {key}`" in message
    assert f"`knouds journal mark-failed {journal} {key} NOTE`" in message
    assert "resend_unknown=True" not in message
    assert "nothing was sent" not in message
    assert sent(emu) == ["an owl"]  # the 502 came from a proxy: the fox never ran

    # Settled as failed: reported as that failure, never sent again.
    assert main(["journal", "mark-failed", journal, str(key), "ran, see the dashboard"]) == 0
    assert "marked" in capsys.readouterr().err
    assert main(batch) == 1
    settled = lines_of(capsys.readouterr().out)[0]
    assert settled["status"] == "failed"
    assert isinstance(settled["error"], dict)
    assert settled["error"]["message"] == "ran, see the dashboard"
    assert sent(emu) == ["an owl"]  # the 502 came from a proxy: the fox never ran

    # Forgotten: the next batch sends it again.
    assert main(["journal", "forget", journal, str(key)]) == 0
    assert "the next batch with these inputs sends it again" in capsys.readouterr().err
    assert main(batch) == 0
    capsys.readouterr()
    assert sent(emu) == ["an owl", "a fox"]
    assert main(["journal", "list", journal, "--state", "unknown"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 unknown entries" in captured.err


def test_a_run_whose_process_stopped_mid_run_is_listed_as_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.sqlite"
    with knouds.SQLiteJournal(path) as journal:
        journal.claim("order-1", "models/gpt-image-2", "hash", "token-1", None)  # never recorded
        journal.claim("order-2", "models/gpt-image-2", "hash", "token-2", None)
    mark_in_flight("token-2")  # this one is still running in this process
    try:
        assert main(["journal", "list", str(path), "--state", "unknown"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("order-1  unknown  started ")
        assert "stopped before recording how the run ended" in out
        assert "order-2" not in out

        # A run in flight is neither forgotten nor settled: that could pay for it twice.
        assert main(["journal", "forget", str(path), "order-2"]) == 2
        assert "is in flight in process" in capsys.readouterr().err
        assert main(["journal", "mark-failed", str(path), "order-2", "x"]) == 2
        capsys.readouterr()
    finally:
        mark_done("token-2")

    assert main(["journal", "mark-failed", str(path), "order-1", "did not run"]) == 0
    with knouds.SQLiteJournal(path) as journal:
        entry = journal.get("order-1")
    assert entry is not None
    assert entry.state == "failed"


def test_journal_command_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.sqlite"
    assert main(["journal", "list", str(missing)]) == 2
    assert f"knouds: error: no journal at {missing}: no such file" in capsys.readouterr().err
    assert not missing.exists()  # not created by looking

    path = tmp_path / "runs.sqlite"
    with knouds.SQLiteJournal(path) as journal:
        claim = journal.claim("done", "models/m", "hash", "token", None)
        journal.record(claim.entry, state="completed", result={"success": True, "cost": 4})
    assert main(["journal", "show", str(path), "nope"]) == 2
    assert "no entry 'nope'" in capsys.readouterr().err
    assert main(["journal", "mark-failed", str(path), "done", "x"]) == 2
    assert "completed: its result is kept" in capsys.readouterr().err
    assert main(["journal", "list", str(path)]) == 0
    assert "done  completed  started " in capsys.readouterr().out


def test_a_redis_journal_is_read_from_the_shell(
    emu: Emulator, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"prompt": "a fox"}\n', encoding="utf-8")
    assert main(["batch", "gpt-image-2", str(inputs), "--journal", redis_url]) == 0
    capsys.readouterr()

    assert main(["journal", "list", redis_url, "--state", "completed", "--json"]) == 0

    rows = lines_of(capsys.readouterr().out)
    assert [(row["state"], row["target"]) for row in rows] == [("completed", "models/gpt-image-2")]
