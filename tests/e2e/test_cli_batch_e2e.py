"""``knouds batch`` against the emulator: results in input order, resumption from the journal,
unknown outcomes, media saving, and a real Ctrl-C (SIGINT) in the middle of a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import knouds
from knouds._cli.main import main
from knouds.testing import Emulator, Fault
from tests.e2e.conftest import prompt_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("KNOUDS_API_KEY", emulator.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emulator.base_url)
        yield emulator


def write_inputs(path: Path, lines: list[object]) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n", encoding="utf-8")
    return str(path)


def executed(emu: Emulator) -> Counter[str]:
    return Counter(prompt_of(e.body) for e in emu.log if e.run is not None)


def test_batch_writes_results_in_order_and_resumes_from_the_journal(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(
        tmp_path / "inputs.jsonl",
        [{"prompt": "a fox"}, {"size": "no prompt"}, {"prompt": "an owl"}, {"prompt": "a cat"}],
    )
    out = tmp_path / "results.jsonl"
    emu.inject(Fault.html(502), times=1, path="/api/models")  # the first run: outcome unknown
    argv = ["batch", "gpt-image-2", inputs, "--out", str(out), "--concurrency", "1"]

    assert main([*argv, "--save", str(tmp_path / "media")]) == 1  # some inputs failed
    first = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert [line["index"] for line in first] == [0, 1, 2, 3]
    assert [line["status"] for line in first] == ["failed", "failed", "completed", "completed"]
    assert first[1]["error"]["type"] == "InvalidInputsError"
    assert first[2]["cost"] == 4
    assert first[2]["saved"][0].startswith(str(tmp_path / "media" / "00002"))
    assert "4 inputs: 2 completed (0 from the journal), 2 failed, 0 unknown outcome" in err
    assert f"journal: {inputs}.journal.sqlite" in err

    assert main(argv) == 13  # the 502 one is now an unknown outcome
    second = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert [line["status"] for line in second] == ["unknown", "failed", "completed", "completed"]
    assert [line.get("from_journal") for line in second[2:]] == [True, True]
    assert "credits spent: 8 (0 by this run)" in err
    assert "--resend-unknown" in err
    assert executed(emu) == Counter({"an owl": 1, "a cat": 1})  # the 502 never reached a run

    assert main([*argv, "--resend-unknown"]) == 1  # only the input without a prompt fails
    third = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["status"] for line in third] == ["completed", "failed", "completed", "completed"]
    assert executed(emu) == Counter({"a fox": 1, "an owl": 1, "a cat": 1})


def test_batch_refuses_a_malformed_inputs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_text('{"prompt": "ok"}\n\n[1, 2]\n', encoding="utf-8")

    assert main(["batch", "gpt-image-2", str(path)]) == 2
    assert f"{path}:3: each line must be a JSON object" in capsys.readouterr().err
    assert main(["batch", "gpt-image-2", str(tmp_path / "missing.jsonl")]) == 2


def test_batch_interrupted_with_ctrl_c_resumes_without_paying_twice(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(10)])
    journal = str(tmp_path / "batch.sqlite")
    out = tmp_path / "results.jsonl"
    argv = [sys.executable, "-m", "knouds", "batch", "gpt-image-2", inputs, "--journal", journal]
    argv += ["--out", str(out), "--concurrency", "2"]

    with Emulator(run_delay=0.15) as emu:
        env = {**os.environ, "KNOUDS_API_KEY": emu.api_key, "KNOUDS_BASE_URL": emu.base_url}
        batch = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        with knouds.SQLiteJournal(journal) as book:
            deadline = time.monotonic() + 30
            while len(book.entries("completed")) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        batch.send_signal(signal.SIGINT)
        _, err = batch.communicate(timeout=30)
        assert batch.returncode == 130, err
        assert "interrupted: runs in flight finished and are recorded in the journal" in err
        assert not out.exists()
        done_before = emu.run_count()
        assert 2 <= done_before < 10

        resumed = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
        counts = executed(emu)

    assert resumed.returncode == 0, resumed.stderr
    assert f"10 completed ({done_before} from the journal)" in resumed.stderr
    assert counts == Counter(f"p{i}" for i in range(10))  # each input paid exactly once
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["inputs"]["prompt"] for line in lines] == [f"p{i}" for i in range(10)]


def test_a_resumed_batch_saves_media_that_an_interrupted_save_left_missing(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "a fox"}])
    out, media = tmp_path / "results.jsonl", tmp_path / "media"
    argv = ["batch", "gpt-image-2", inputs, "--out", str(out), "--save", str(media)]
    assert main(argv) == 0
    saved = Path(json.loads(out.read_text())["saved"][0])
    # Killed while downloading: the file never published, its partial download left behind.
    saved.unlink()
    (saved.parent / f".{saved.name}.0123456789ab.part").write_bytes(b"half a fi")

    assert main(argv) == 0
    capsys.readouterr()

    line = json.loads(out.read_text())
    assert line["from_journal"]
    assert line["saved"] == [str(saved)]
    assert saved.stat().st_size > 0


def test_max_credits_stops_a_batch_and_a_higher_limit_resumes_it(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(5)])
    out = tmp_path / "results.jsonl"
    argv = ["batch", "gpt-image-2", inputs, "--out", str(out), "--concurrency", "1"]

    assert main([*argv, "--max-credits", "10"]) == 14  # gpt-image-2 costs 4: two fit
    first = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert [line["status"] for line in first] == ["completed"] * 2 + ["failed"] * 3
    assert {line["error"]["type"] for line in first[2:]} == {"BudgetExceededError"}
    assert "3 not started (credit limit); credits spent: 8 (8 by this run)" in err
    assert "higher --max-credits" in err
    assert emu.run_count("gpt-image-2") == 2

    assert main([*argv, "--max-credits", "12"]) == 0  # refused inputs were never sent: resumed
    assert "credits spent: 20 (12 by this run)" in capsys.readouterr().err
    assert emu.run_count("gpt-image-2") == 5


def test_a_workflow_batch_estimated_above_max_credits_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(4)])
    argv = ["batch", "my-thumbnail-pipeline", inputs, "--workflow", "--no-journal"]

    assert main([*argv, "--max-credits", "15"]) == 14
    err = capsys.readouterr().err
    assert "estimated cost: 20 credits for 4 inputs" in err
    assert "estimated at 20 credits, more than max_credits=15" in err
    assert emu.run_count() == 0

    assert main([*argv, "--max-credits", "20"]) == 0
    assert "credits spent: 20 (20 by this run); estimated 20" in capsys.readouterr().err
