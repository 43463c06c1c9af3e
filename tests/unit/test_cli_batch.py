"""``knouds batch`` before anything runs: option checks, input decoding, empty inputs, an output
that cannot be written, credentials in printed URLs. Nothing here reaches a server: each case is
refused (or ends) before a client sends anything, which the tests check by pointing the command
at a server that does not exist."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from knouds._cli.main import main

NOWHERE = "http://127.0.0.1:9"  # the discard port: any request sent would fail the test run


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOUDS_API_KEY", "kn_test_not_a_real_key")
    monkeypatch.setenv("KNOUDS_BASE_URL", NOWHERE)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    path = tmp_path / "inputs.jsonl"
    path.write_text('{"prompt": "a fox"}\n', encoding="utf-8")
    return path


def stdin_bytes(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


# -- 1. options are checked before anything is opened -----------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--concurrency", "0"], "--concurrency must be at least 1, got 0"),
        (["--concurrency", "-3"], "--concurrency must be at least 1, got -3"),
        (["--max-credits", "-5"], "--max-credits must be a number of credits, 0 or more, got -5"),
        (["--max-credits", "nan"], "--max-credits must be a number of credits, 0 or more"),
        (["--max-credits", "inf"], "--max-credits must be a number of credits, 0 or more"),
        (["--timeout", "nan"], "--timeout must be a number of seconds above 0, got nan"),
        (["--timeout", "0"], "--timeout must be a number of seconds above 0, got 0"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_the_flag_before_anything_is_opened(
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    message: str,
) -> None:
    out = tmp_path / "results.jsonl"

    code = main(["batch", "gpt-image-2", str(inputs), "--out", str(out), *option])

    err = capsys.readouterr().err
    assert code == 2
    assert f"knouds batch: error: {message}" in err
    assert err.startswith("usage: knouds batch")
    assert "journal:" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.jsonl"]  # nothing created


def test_timeout_of_a_single_run_is_checked_the_same_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "gpt-image-2", "-i", "prompt=x", "--timeout", "nan"]) == 2
    assert "--timeout must be a number of seconds above 0" in capsys.readouterr().err


def test_journal_and_no_journal_together_are_a_usage_error(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.sqlite"
    assert main(["batch", "m", str(inputs), "--journal", str(journal), "--no-journal"]) == 2
    assert "--journal and --no-journal cannot both be given" in capsys.readouterr().err
    assert not journal.exists()


# -- 2. one answer for bytes that are not UTF-8, wherever they come from -----------------------

LATIN1 = b'{"prompt": "a fox"}\n{"p": "caf\xe9"}\n'  # line 2, byte 11 of the line
EXPECTED = "2: not UTF-8 (byte 0xe9 at column 11); save the file as UTF-8."


def test_a_file_that_is_not_utf8_names_the_line_and_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_bytes(LATIN1)

    assert main(["batch", "gpt-image-2", str(path)]) == 2

    assert f"knouds: error: {path}:{EXPECTED}\n" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.jsonl"]


def test_stdin_that_is_not_utf8_is_refused_not_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin_bytes(monkeypatch, LATIN1)

    assert main(["batch", "gpt-image-2", "-"]) == 2

    assert f"knouds: error: <stdin>:{EXPECTED}\n" in capsys.readouterr().err


def test_a_text_stdin_holding_escaped_bytes_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What Python hands over for undecodable bytes under a POSIX locale: lone surrogates.
    monkeypatch.setattr(sys, "stdin", io.StringIO(LATIN1.decode("utf-8", "surrogateescape")))

    assert main(["batch", "gpt-image-2", "-"]) == 2

    assert f"knouds: error: <stdin>:{EXPECTED}\n" in capsys.readouterr().err


def test_inputs_json_that_is_not_utf8_gets_the_same_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.json"
    path.write_bytes(b'{"prompt": "a fox",\n"pp": "caf\xe9"}\n')
    assert main(["run", "gpt-image-2", "--inputs-json", str(path)]) == 2
    assert f"knouds: error: {path}:{EXPECTED}\n" in capsys.readouterr().err

    stdin_bytes(monkeypatch, b'{"prompt": "a fox",\n"pp": "caf\xe9"}\n')
    assert main(["run", "gpt-image-2", "--inputs-json", "-"]) == 2
    assert f"knouds: error: <stdin>:{EXPECTED}\n" in capsys.readouterr().err


def test_a_utf8_byte_order_mark_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a fox"}\n[1]\n')

    assert main(["batch", "gpt-image-2", str(path)]) == 2  # line 2, not line 1, is refused

    assert f"{path}:2: each line must be a JSON object" in capsys.readouterr().err


def test_a_line_separator_inside_a_json_string_does_not_split_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_text('{"prompt": "one\u2028two"}\n[1]\n', encoding="utf-8")

    assert main(["batch", "gpt-image-2", str(path)]) == 2

    assert f"{path}:2: each line must be a JSON object" in capsys.readouterr().err


# -- 3. no inputs: nothing to run, nothing created ---------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "  \n\t\n"])
def test_empty_inputs_warn_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "results.jsonl"

    assert main(["batch", "gpt-image-2", str(path), "--out", str(out)]) == 0

    err = capsys.readouterr().err
    assert f"knouds: warning: {path} holds no inputs" in err
    assert "no journal and no results written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs.jsonl"]


# -- 5. an output that cannot be written is refused before anything is paid --------------------


def test_an_out_that_is_a_directory_is_refused_before_anything_runs(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    out.mkdir()

    assert main(["batch", "gpt-image-2", str(inputs), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert f"knouds: error: cannot write the results to --out {out}: it is a directory" in err
    assert "journal:" not in err
    assert not Path(f"{inputs}.journal.sqlite").exists()


def test_an_out_whose_folder_cannot_be_made_is_refused_before_anything_runs(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = inputs / "results.jsonl"  # under a regular file

    assert main(["batch", "gpt-image-2", str(inputs), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert f"knouds: error: cannot write the results to --out {out}: Not a directory" in err
    assert not Path(f"{inputs}.journal.sqlite").exists()


def test_a_read_only_out_is_refused_before_anything_runs(
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("earlier results\n")
    out.chmod(0o444)
    # Root may write any file: answer for the file as the system answers any other user.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: False if Path(path) == out else real_access(path, mode)
    )

    assert main(["batch", "gpt-image-2", str(inputs), "--out", str(out)]) == 2

    assert "the file is read-only" in capsys.readouterr().err
    assert out.read_text() == "earlier results\n"


def test_save_naming_a_file_is_refused_before_anything_runs(
    inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", "gpt-image-2", str(inputs), "--save", str(inputs)]) == 2
    assert f"--save {inputs} is not a directory" in capsys.readouterr().err


# -- 9. credentials never printed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:s3cret@host/1", "rediss://user:***@host/1"),
        ("redis://tok3n@host/0", "redis://***@host/0"),
        ("redis://:p@ss@host/0 and more", "redis://:***@host/0 and more"),
        ("journal: redis://host:6379/0", "journal: redis://host:6379/0"),
        ("a.sqlite", "a.sqlite"),
        (
            "x https://u:pw@a.test/p y redis://:pw@b/0",
            "x https://u:***@a.test/p y redis://:***@b/0",
        ),
    ],
)
def test_urls_lose_their_credentials(text: str, expected: str) -> None:
    from knouds._cli.journal import redact_urls

    assert redact_urls(text) == expected


def test_a_redis_journal_url_is_printed_without_its_password(
    inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 has no Redis: the journal cannot be opened, and the error names the URL too.
    code = main(["batch", "gpt-image-2", str(inputs), "--journal", "redis://:s3cret@127.0.0.1:9/0"])

    captured = capsys.readouterr()
    assert code != 0
    assert "knouds: journal: redis://:***@127.0.0.1:9/0" in captured.err
    assert "s3cret" not in captured.err + captured.out


def test_journal_commands_print_a_redis_url_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["journal", "list", "redis://:s3cret@127.0.0.1:9/0"])

    captured = capsys.readouterr()
    assert code != 0
    assert "s3cret" not in captured.err + captured.out


def test_an_error_message_holding_a_url_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from knouds._cli.errors import _report

    _report(RuntimeError("cannot reach redis://admin:s3cret@cache:6379/0"), sys.stderr)

    assert "redis://admin:***@cache:6379/0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("charged", "said"),
    [
        (4.0, "this run spent 4 of a limit of 5 credits; "),
        # A run may cost more than the price it was held at (a price that changed meanwhile).
        (9.0, "this run spent 9 of a limit of 5 credits (over the limit by 4)"),
    ],
)
def test_the_summary_says_what_a_batch_spent_of_its_limit(charged: float, said: str) -> None:
    from knouds._cli.batch_lines import summary
    from knouds._stores.usage import UsageRecorder

    usage = UsageRecorder()
    usage.record("model", "gpt-image-2", charged)
    line = {"status": "completed", "from_journal": False, "cost": charged}
    text, status = summary([line], total=1, usage=usage.snapshot(), estimate=None, limit=5.0)

    assert said in text + "; "
    assert status == 0
