"""The ``knouds`` command line: input parsing, exit-code table, usage errors, start-up weight."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import knouds
from knouds._cli import main as _cli
from knouds._cli.errors import _report
from knouds._cli.main import EXIT_CODES, exit_code_for, main, parse_inputs, parse_value
from knouds._cli.output import credits

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        ("1.5", 1.5),
        ("true", True),
        ("null", None),
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ('"quoted"', "quoted"),
        ("a red fox", "a red fox"),
        ("", ""),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("16:9", "16:9"),
    ],
)
def test_values_are_json_when_they_parse_else_strings(raw: str, expected: object) -> None:
    assert parse_value(raw) == expected


def test_inputs_json_merges_first_then_pairs_and_the_last_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"prompt": "from file", "num_images": 2, "style": "photo"}))

    inputs = parse_inputs(["prompt=first", "style=3d", "prompt=a=b", "seed=7"], str(path))

    assert inputs == {"prompt": "a=b", "num_images": 2, "style": "3d", "seed": 7}


def test_inputs_json_from_stdin() -> None:
    assert parse_inputs([], "-", io.StringIO('{"prompt": "x"}')) == {"prompt": "x"}


@pytest.mark.parametrize(
    ("pairs", "inputs_json", "stdin", "message"),
    [
        (["prompt"], None, "", "key=value"),
        (["=x"], None, "", "key=value"),
        ([], "-", "[1, 2]", "JSON object"),
        ([], "-", "{nope", "not valid JSON"),
        ([], "/nonexistent/inputs.json", "", "cannot read"),
    ],
)
def test_bad_inputs_are_usage_errors(
    pairs: list[str], inputs_json: str | None, stdin: str, message: str
) -> None:
    with pytest.raises(_cli.UsageError, match=message):
        parse_inputs(pairs, inputs_json, io.StringIO(stdin))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (knouds.ConfigurationError("no key"), 3),
        (knouds.AuthenticationError("no", status_code=401), 4),
        (knouds.LegacyKeyRetiredError("old", status_code=401), 4),
        (knouds.CapabilityDeniedError("no", status_code=403), 4),
        (knouds.ScopeDeniedError("no", status_code=403), 4),
        (knouds.InsufficientCreditsError("poor", status_code=402), 5),
        (knouds.GrantExhaustedError("used", status_code=402), 5),
        (knouds.ModelNotFoundError("none", status_code=404), 6),
        (knouds.ExecutionNotFoundError("none", status_code=404), 6),
        (knouds.RateLimitError("slow down", status_code=429), 7),
        (knouds.InvalidInputsError("bad", status_code=400), 8),
        (knouds.InvalidSlugError("bad"), 8),
        (knouds.ExecutionFailedError("boom", status_code=500), 9),
        (knouds.InternalServerError("boom", status_code=503), 9),
        (knouds.APIResponseValidationError("odd"), 9),
        (knouds.APIConnectionError("down"), 10),
        (knouds.APITimeoutError("slow"), 10),
        (knouds.ExecutionCancelledError("cancelled"), 11),
        (knouds.ExecutionTimeoutError("late", execution_id="abc"), 12),
        (knouds.BudgetExceededError("spent", limit=1, spent=1), 14),
        (knouds.WebhookVerificationError("forged"), 1),
        (OSError("disk full"), 1),
        (_cli.UsageError("bad"), 2),
    ],
)
def test_each_error_class_has_its_exit_code(error: BaseException, code: int) -> None:
    assert exit_code_for(error).code == code


def test_exit_code_table_is_documented_in_the_docstring_and_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    doc = _cli.__doc__ or ""
    for entry in EXIT_CODES.values():
        assert f"  {entry.code:<3} " in help_text
        assert entry.meaning in help_text
        assert f"    {entry.code:<3} " in doc
    assert {entry.code for entry in EXIT_CODES.values()} == set(range(1, 15))


def test_bare_command_prints_help_with_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: knouds")
    for command in ("run", "workflow", "submit", "wait", "whoami", "emulator", "demo"):
        assert f"\n    {command} " in out, command


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"knouds {knouds.__version__}\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["run", "gpt-image-2", "-i", "prompt-without-equals"]) == 2
    err = capsys.readouterr().err
    assert "knouds: error: -i expects key=value" in err


def test_missing_api_key_exits_3_with_advice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    monkeypatch.delenv("KNOUDS_BASE_URL", raising=False)

    assert main(["whoami"]) == 3
    assert main(["--api-key", " ", "whoami"]) == 3

    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == err[1]
    assert err[0] == (
        "knouds: error: No Knouds API key: pass --api-key KEY or set the KNOUDS_API_KEY "
        "environment variable. `knouds demo` runs offline without one."
    )


def test_insecure_base_url_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--api-key", "knouds_live_x", "--base-url", "http://example.com", "whoami"])

    assert code == 3
    assert "knouds_live_x" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("amount", "text"), [(1, "1 credit"), (4, "4 credits"), (0, "0 credits"), (None, "? credits")]
)
def test_credits_agree_in_number(amount: int | None, text: str) -> None:
    assert credits(amount) == text


def _modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_help_imports_neither_pydantic_nor_the_emulator() -> None:
    loaded = _modules_after(
        "import contextlib, io\n"
        "from knouds._cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0"
    )

    assert not any(name.startswith("knouds.testing") for name in loaded)
    assert "tqdm" not in loaded
    assert "pydantic" not in loaded


def test_knouds_emulator_takes_the_options_of_python_m_knouds_testing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import knouds.testing
    import knouds.testing.__main__ as testing_main

    served: list[tuple[int, dict[str, object]]] = []

    def fake_serve(port: int = 0, **options: object) -> None:
        served.append((port, options))

    monkeypatch.setattr(testing_main, "serve", fake_serve)
    argv = [
        "--port", "8123", "--rate-limit", "5", "--window", "2.5", "--execution-delay", "3",
        "--run-delay", "0.5", "--credits", "77", "--older-docs",
    ]  # fmt: skip

    assert main(["emulator", *argv]) == 0
    testing_main.main(argv)
    assert main(["emulator", "--no-such-option"]) == 2

    expected: dict[str, Any] = {
        "host": "127.0.0.1",
        "rate_limit": 5,
        "window": 2.5,
        "execution_delay": 3.0,
        "run_delay": 0.5,
        "credits": 77,
        "older_docs": True,
    }
    assert served == [(8123, expected), (8123, expected)]
    knouds.testing.Emulator(**{k: v for k, v in expected.items() if k != "host"})


def _reported(error: BaseException) -> str:
    err = io.StringIO()
    _report(error, err)
    line = err.getvalue()
    assert line.startswith("knouds: error: ")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    return line.removeprefix("knouds: error: ").rstrip("\n")


def test_an_authentication_error_names_the_command_line_option() -> None:
    text = _reported(knouds.AuthenticationError("Unauthorized", status_code=401))
    assert text == "Unauthorized (HTTP 401). Check the key given by --api-key or KNOUDS_API_KEY."
    assert "api_key argument" not in text
    # A subclass with advice of its own keeps it.
    retired = _reported(knouds.LegacyKeyRetiredError("Retired", status_code=401))
    assert retired.endswith("Regenerate the API key in the Knouds dashboard.")


def test_advice_after_a_message_without_a_stop_is_a_new_sentence() -> None:
    error = knouds.APIConnectionError("Could not connect: [Errno 111] Connection refused")
    assert _reported(error) == (
        "Could not connect: [Errno 111] Connection refused. Check the network."
    )


def test_the_command_line_repeats_neither_the_status_nor_the_advice() -> None:
    first = knouds.WorkflowNotFoundError("Workflow not found", status_code=404)
    again = knouds.WorkflowNotFoundError(str(first), status_code=404)
    text = _reported(again)
    assert text == _reported(first)
    assert text.count("(HTTP 404)") == 1
    assert text.count("Check the slug") == 1
    slug = _reported(knouds.InvalidSlugError("'A' is not a valid model name", code="INVALID_SLUG"))
    assert slug.count("lowercase") == 1


def test_an_execution_error_says_how_to_resume_once() -> None:
    error = knouds.ExecutionTimeoutError("Gave up waiting after 5 s", execution_id="exe_1")
    assert _reported(error) == "Gave up waiting after 5 s. Resume with: knouds wait exe_1."


def test_emulator_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from knouds.testing.__main__ import add_emulator_options

    parser = argparse.ArgumentParser(prog="knouds emulator")
    add_emulator_options(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["-h"])
    shown = " ".join(capsys.readouterr().out.split())
    for action in parser._actions:
        if action.default in (None, False, argparse.SUPPRESS):
            continue
        option = action.option_strings[-1]
        start = shown.index(option, shown.index("options:"))
        help_text = shown[start : start + 120]
        assert "(default:" in help_text, f"{option} hides its default: {help_text}"
    for expected in ("(default: 60)", "(default: 0.2)", "(default: 1000)", "(default: 127.0.0.1)"):
        assert expected in shown
