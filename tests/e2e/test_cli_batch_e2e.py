"""``knouds batch`` against the emulator: results in input order, resumption from the journal,
unknown outcomes, media saving, and a real Ctrl-C (SIGINT) in the middle of a batch."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import knouds
from knouds._cli.main import EXIT_CODES, main
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

    assert main([*argv, "--save", str(tmp_path / "media")]) == 13  # the 502 may have run
    first = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert [line["index"] for line in first] == [0, 1, 2, 3]
    assert [line["status"] for line in first] == ["unknown", "failed", "completed", "completed"]
    assert first[0]["error"]["key"].startswith("models/gpt-image-2:")
    assert first[1]["error"]["type"] == "InvalidInputsError"
    assert first[2]["cost"] == 4
    assert first[2]["saved"][0].startswith(str(tmp_path / "media" / "00002"))
    assert "4 inputs: 2 completed (0 from the journal), 1 failed, 1 unknown outcome" in err
    assert f"journal: {inputs}.journal.sqlite" in err

    assert main(argv) == 13  # the 502 one is still an unknown outcome: not sent again
    second = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert [line["status"] for line in second] == ["unknown", "failed", "completed", "completed"]
    assert second[0]["error"]["key"] == first[0]["error"]["key"]
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
        assert "interrupted (Ctrl-C): 10 inputs:" in err
        assert "runs in flight finished; the journal" in err
        done_before = emu.run_count()
        assert 2 <= done_before < 10
        kept = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["status"] for line in kept] == ["completed"] * done_before  # all paid runs
        assert [line["index"] for line in kept] == sorted(line["index"] for line in kept)

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
    assert "; this run spent 8 of a limit of 10 credits\n" in err
    assert "caps what one run of the command spends. Run the same command again to go on" in err
    assert emu.run_count("gpt-image-2") == 2

    assert main([*argv, "--max-credits", "12"]) == 0  # refused inputs were never sent: resumed
    err = capsys.readouterr().err
    assert "credits spent: 20 (12 by this run); this run spent 12 of a limit of 12 credits" in err
    assert "over the limit" not in err
    assert emu.run_count("gpt-image-2") == 5


def test_the_summary_says_what_a_batch_spent_of_its_credit_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "p0"}, {"prompt": "p1"}])
    with Emulator(run_delay=0.1) as emu:
        monkeypatch.setenv("KNOUDS_API_KEY", emu.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emu.base_url)
        # Nothing tells the first run's cost: it goes alone, and the second, which would pass
        # the limit at the price the first one taught, is not sent.
        argv = ["batch", "gpt-image-2", inputs, "--no-journal", "--max-credits", "5"]

        assert main(argv) == EXIT_CODES["BudgetExceededError"].code

        assert emu.run_count() == 1
    err = capsys.readouterr().err
    assert "this run spent 4 of a limit of 5 credits" in err
    assert "over the limit" not in err


def test_out_honours_the_umask_when_new_and_keeps_the_mode_of_an_existing_file(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "a fox"}])
    new, existing = tmp_path / "new.jsonl", tmp_path / "existing.jsonl"
    existing.write_text("old results\n")
    existing.chmod(0o604)

    previous = os.umask(0o027)
    try:
        assert main(["batch", "gpt-image-2", inputs, "--out", str(new)]) == 0
        assert main(["batch", "gpt-image-2", inputs, "--out", str(existing)]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()

    assert new.stat().st_mode & 0o777 == 0o640
    assert existing.stat().st_mode & 0o777 == 0o604
    assert json.loads(existing.read_text())["status"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "existing.jsonl",
        "inputs.jsonl",
        "inputs.jsonl.journal.sqlite",
        "new.jsonl",
    ]


def test_results_on_stdout_come_in_input_order(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(12)])
    # The first input is slow: every other one ends before it.
    emu.inject(Fault.delay(0.3), times=1, path="/api/models")

    assert main(["batch", "gpt-image-2", inputs, "--concurrency", "4", "--no-journal"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["index"] for line in lines] == list(range(12))


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


# -- stdin, output files, signals --------------------------------------------------------------


def spawn(argv: list[str], emu: Emulator, stderr: Path) -> subprocess.Popen[str]:
    """``python -m knouds ARGV`` against ``emu``, its stderr going to a file the test can poll."""
    env = {**os.environ, "KNOUDS_API_KEY": emu.api_key, "KNOUDS_BASE_URL": emu.base_url}
    with stderr.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "knouds", *argv], env=env, stderr=sink, text=True, cwd=ROOT
        )


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_stdin_batch_says_it_keeps_no_journal_and_keeps_one_when_asked(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = b'{"prompt": "a fox"}\n{"prompt": "an owl"}\n'

    def feed() -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8"))

    feed()
    assert main(["batch", "gpt-image-2", "-"]) == 0
    err = capsys.readouterr().err
    assert "knouds: stdin: no journal, a re-run pays again; pass --journal FILE to resume" in err
    assert "run the same command again" not in err
    assert emu.run_count() == 2

    journal = tmp_path / "stdin.sqlite"
    for _ in range(2):
        feed()
        assert main(["batch", "gpt-image-2", "-", "--journal", str(journal)]) == 0
    err = capsys.readouterr().err
    assert f"knouds: journal: {journal} (run the same command again to resume)" in err
    assert "2 completed (2 from the journal)" in err  # the second run paid nothing
    assert "stdin: no journal" not in err
    assert emu.run_count() == 4


def test_ctrl_c_without_a_journal_keeps_every_paid_result(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(10)])
    out = tmp_path / "results.jsonl"
    partial = tmp_path / "results.jsonl.partial"
    argv = ["batch", "gpt-image-2", inputs, "--no-journal", "--out", str(out)]

    with Emulator(run_delay=0.15) as emu:
        batch = spawn([*argv, "--concurrency", "2"], emu, tmp_path / "stderr.txt")
        # Results are written as runs end, before the batch is over.
        wait_for(lambda: partial.exists() and partial.read_text().count("\n") >= 2, "2 results")
        batch.send_signal(signal.SIGINT)
        batch.wait(timeout=30)
        paid = emu.run_count()
    err = (tmp_path / "stderr.txt").read_text()

    assert batch.returncode == 130, err
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) == paid  # every run paid for has its line
    assert 2 <= paid < 10
    assert [line["index"] for line in kept] == sorted(line["index"] for line in kept)
    assert {line["status"] for line in kept} == {"completed"}
    assert not partial.exists()
    assert f"the results of the {paid} inputs that ended are written to {out}" in err
    assert "There is no journal: running the same command again sends every input again" in err
    assert "resume" not in err


def test_sigterm_stops_a_batch_like_ctrl_c_and_it_resumes_without_paying_twice(
    tmp_path: Path,
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": f"p{i}"} for i in range(10)])
    journal = str(tmp_path / "batch.sqlite")
    out = tmp_path / "results.jsonl"
    argv = ["batch", "gpt-image-2", inputs, "--journal", journal, "--out", str(out)]

    with Emulator(run_delay=0.15) as emu:
        batch = spawn([*argv, "--concurrency", "2"], emu, tmp_path / "stderr.txt")
        partial = tmp_path / "results.jsonl.partial"
        wait_for(lambda: partial.exists() and partial.read_text().count("\n") >= 2, "2 results")
        batch.send_signal(signal.SIGTERM)
        batch.wait(timeout=30)
        err = (tmp_path / "stderr.txt").read_text()
        paid = emu.run_count()

        assert batch.returncode == 143, err
        assert "knouds: stopping (SIGTERM): no new input starts" in err
        assert "knouds: interrupted (SIGTERM): 10 inputs:" in err
        assert f"{10 - paid} not started (interrupted)" in err
        assert "runs in flight finished; the journal" in err
        assert len(out.read_text().splitlines()) == paid

        resumed = spawn(argv, emu, tmp_path / "stderr2.txt")
        assert resumed.wait(timeout=60) == 0, (tmp_path / "stderr2.txt").read_text()
        counts = executed(emu)

    assert f"10 completed ({paid} from the journal)" in (tmp_path / "stderr2.txt").read_text()
    assert counts == Counter(f"p{i}" for i in range(10))  # each input paid exactly once


SECOND_SIGNAL_WHILE_STOPPING = """
import os, signal, sys, threading, time

from knouds._base import batch
from knouds._cli.main import main

abort = batch._Batch.abort


def abort_then_signal_again(self):
    # The first Ctrl-C stops the batch; a second lands before the wait for the runs in flight
    # begins (a user pressing twice quickly, or a supervisor sending SIGTERM twice).
    abort(self)
    if threading.current_thread() is threading.main_thread():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)  # the handler runs here


batch._Batch.abort = abort_then_signal_again
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_ctrl_c_before_the_wait_begins_still_leaves_at_once(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "p0"}, {"prompt": "p1"}])
    journal = str(tmp_path / "batch.sqlite")
    script = tmp_path / "twice.py"
    script.write_text(SECOND_SIGNAL_WHILE_STOPPING, encoding="utf-8")
    stderr = tmp_path / "stderr.txt"

    with Emulator(run_delay=10) as emu:
        env = {**os.environ, "KNOUDS_API_KEY": emu.api_key, "KNOUDS_BASE_URL": emu.base_url}
        argv = ["batch", "gpt-image-2", inputs, "--journal", journal, "--concurrency", "2"]
        with stderr.open("w") as sink:
            batch = subprocess.Popen(
                [sys.executable, str(script), *argv], env=env, stderr=sink, text=True, cwd=ROOT
            )
        wait_for(lambda: emu.run_count() == 2, "both runs in flight")
        first = time.monotonic()
        batch.send_signal(signal.SIGINT)
        batch.wait(timeout=30)
        left_after = time.monotonic() - first
        err = stderr.read_text()

    assert batch.returncode == 130, err
    assert "interrupted again (Ctrl-C): left without waiting for the runs in flight" in err
    assert left_after < 6, err  # did not wait for the runs (10 s each) to end


def test_a_second_ctrl_c_leaves_at_once_even_when_stderr_is_gone(tmp_path: Path) -> None:
    # `knouds batch ... 2>&1 | tee log`: the first Ctrl-C ends tee too, and stderr is a dead pipe.
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "p0"}, {"prompt": "p1"}])
    argv = ["batch", "gpt-image-2", inputs, "--journal", str(tmp_path / "batch.sqlite")]

    with Emulator(run_delay=10) as emu:
        env = {**os.environ, "KNOUDS_API_KEY": emu.api_key, "KNOUDS_BASE_URL": emu.base_url}
        batch = subprocess.Popen(
            [sys.executable, "-m", "knouds", *argv, "--concurrency", "2"],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        assert batch.stderr is not None
        wait_for(lambda: emu.run_count() == 2, "both runs in flight")
        batch.send_signal(signal.SIGINT)
        while "stopping (Ctrl-C)" not in batch.stderr.readline():
            pass
        batch.stderr.close()  # the reader is gone
        second = time.monotonic()
        batch.send_signal(signal.SIGINT)
        batch.wait(timeout=30)
        left_after = time.monotonic() - second

    assert batch.returncode == 130
    assert left_after < 6  # did not wait for the runs (10 s each) to end


def test_a_second_ctrl_c_leaves_at_once_and_says_the_runs_in_flight_were_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"prompt": "p0"}, {"prompt": "p1"}])
    journal = str(tmp_path / "batch.sqlite")
    argv = ["batch", "gpt-image-2", inputs, "--journal", journal, "--concurrency", "2"]
    stderr = tmp_path / "stderr.txt"

    with Emulator(run_delay=10) as emu:
        batch = spawn(argv, emu, stderr)
        wait_for(lambda: emu.run_count() == 2, "both runs in flight")
        batch.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping (Ctrl-C)" in stderr.read_text(), "the first signal's note")
        second = time.monotonic()
        batch.send_signal(signal.SIGINT)
        batch.wait(timeout=30)
        left_after = time.monotonic() - second
        err = stderr.read_text()

        assert batch.returncode == 130, err
        assert left_after < 6, err  # did not wait for the runs (10 s each) to end
        assert "interrupted again (Ctrl-C): left without waiting for the runs in flight" in err
        assert "Knouds may still run and charge them" in err
        assert "runs in flight finished" not in err
        assert "2 without a result (abandoned in flight, or not started)" in err

        # As said: the next run reports them as unknown outcomes and sends nothing.
        monkeypatch.setenv("KNOUDS_API_KEY", emu.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emu.base_url)
        assert main(argv) == 13
        assert emu.run_count() == 2
    resumed = capsys.readouterr()
    assert [json.loads(line)["status"] for line in resumed.out.splitlines()] == ["unknown"] * 2
