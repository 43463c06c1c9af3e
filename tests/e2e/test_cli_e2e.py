"""The ``knouds`` command end to end: ``main(argv)`` against the emulator over real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import knouds
from knouds._cli.main import EXIT_CODES, main
from knouds.testing import Emulator, Fault

ROOT = Path(__file__).resolve().parents[2]
SLUG = "my-thumbnail-pipeline"


def code(kind: str) -> int:
    return EXIT_CODES[kind].code


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(execution_delay=0.05) as emulator:
        monkeypatch.setenv("KNOUDS_API_KEY", emulator.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emulator.base_url)
        yield emulator


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_run_prints_media_cost_and_time(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=a red fox")

    assert status == 0
    assert f"image  {emu.base_url}/media/" in out
    assert "cost:  4 credits" in out
    assert " ms" in out
    assert err == ""  # stderr is not a terminal: no elapsed-time line
    assert emu.log[-1].body == {"inputs": {"prompt": "a red fox"}}


def test_run_json_and_save(
    emu: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"prompt": "from file", "num_images": 1}))

    status, out, _ = run_cli(
        capsys,
        "run",
        "gpt-image-2",
        "--inputs-json",
        str(inputs),
        "-i",
        "num_images=2",
        "--json",
        "--save",
        str(tmp_path / "out"),
    )

    assert status == 0
    data = json.loads(out)
    assert data["success"] is True
    assert data["cost"] == 4
    assert data["rate_limit"]["limit"] == 1000
    runs = [e for e in emu.log if e.path == "/api/models/gpt-image-2/run"]
    assert runs[-1].body == {"inputs": {"prompt": "from file", "num_images": 2}}
    assert len(data["saved"]) == len(data["result"]["images"]) == 2
    for saved in data["saved"]:
        assert Path(saved).parent == tmp_path / "out"
        assert Path(saved).stat().st_size > 0


def test_workflow_run_and_schema(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "workflow", "run", SLUG, "-i", "prompt=x", "-i", "style=3d")
    assert status == 0
    assert "cost:  5 credits" in out
    assert emu.run_count(SLUG) == 1

    status, out, _ = run_cli(capsys, "workflow", "schema", SLUG)
    assert status == 0
    assert "prompt" in out
    assert "options=photo|illustration|3d" in out

    status, out, _ = run_cli(capsys, "workflow", "schema", SLUG, "--json")
    assert status == 0
    assert [f["name"] for f in json.loads(out)["fields"]] == [
        "prompt",
        "style",
        "aspect_ratio",
        "negative_prompt",
        "num_images",
        "creativity",
        "add_title",
        "reference_image",
    ]


def test_submit_then_wait(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "submit", "gpt-image-2", "-i", "prompt=x")
    execution_id = out.strip()
    assert status == 0
    assert f"knouds wait {execution_id}" in err

    status, out, _ = run_cli(capsys, "wait", execution_id, "--json")
    assert status == 0
    assert len(json.loads(out)["result"]["images"]) == 1


def test_submit_a_workflow_as_json(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "submit", "--workflow", SLUG, "-i", "prompt=x", "--json")

    assert status == 0
    assert json.loads(out)["status"] == "processing"
    assert emu.run_count(SLUG) == 1


def test_whoami(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "whoami")
    assert status == 0
    assert "dev@emulator.local" in out

    status, out, _ = run_cli(capsys, "whoami", "--json")
    assert json.loads(out)["tier"] == "business"


def test_global_api_key_option_wins_over_the_environment(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    other = emu.create_key(email="other@emulator.local")

    status, out, _ = run_cli(capsys, "--api-key", other, "whoami")

    assert status == 0
    assert "other@emulator.local" in out


def test_demo_says_it_ran_against_the_emulator(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)

    status, out, _ = run_cli(capsys, "demo", "--save", str(tmp_path))

    assert status == 0
    assert "local Knouds emulator" in out
    assert "RunResult(cost=4" in out
    assert len(list(tmp_path.iterdir())) == 1


def test_demo_without_save_leaves_no_folder_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR

    status, out, _ = run_cli(capsys, "demo")

    assert status == 0
    assert f"-> {tmp_path}" in out  # the image was saved under the temporary folder ...
    assert list(tmp_path.iterdir()) == []  # ... which is gone
    assert "--save DIR" in out


def assert_error(err: str, *fragments: str) -> None:
    line = err.strip()
    assert line.startswith("knouds: error: ")
    assert "\n" not in line
    for fragment in fragments:
        assert fragment in line


def test_revoked_key_exits_4(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    emu.revoke_key(emu.api_key)
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("AuthenticationError") == 4
    assert_error(err, "KNOUDS_API_KEY")
    assert emu.api_key not in err


def test_missing_capability_exits_4(
    emu: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOUDS_API_KEY", emu.create_key(capabilities={"workflow:run"}))
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("PermissionDeniedError") == 4
    assert_error(err, "CAPABILITY_DENIED")


def test_no_credits_exits_5(
    emu: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOUDS_API_KEY", emu.create_key(credits=0))
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("PaymentRequiredError") == 5
    assert_error(err, "INSUFFICIENT_CREDITS")


def test_unknown_model_exits_6(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "run", "no-such-model", "-i", "prompt=x")
    assert status == code("NotFoundError") == 6
    assert_error(err, "MODEL_NOT_FOUND")


def test_rate_limited_exits_7(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    emu.inject(Fault.rate_limited(retry_after=3600), times=1)
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("RateLimitError") == 7
    assert_error(err, "429")


def test_bad_inputs_exit_8(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "size=2")
    assert status == code("BadRequestError") == 8
    assert_error(err, "INVALID_INPUTS")


def test_execution_failed_exits_9(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    emu.inject(Fault.status(500, "EXECUTION_FAILED", "Provider down"), times=1)
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("InternalServerError") == 9
    assert_error(err, "Provider down")
    assert emu.run_count("gpt-image-2") == 0


def test_dropped_connection_exits_10(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    emu.inject(Fault.drop(), times=1)
    status, _, err = run_cli(capsys, "run", "gpt-image-2", "-i", "prompt=x")
    assert status == code("APIConnectionError") == 10
    assert_error(err)


def test_cancelled_execution_exits_11(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(execution_delay=0.05) as emu:
        monkeypatch.setenv("KNOUDS_API_KEY", emu.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emu.base_url)
        with knouds.Client(api_key=emu.api_key, base_url=emu.base_url) as client:
            execution = client.models.submit("gpt-image-2", {"prompt": "x"})
            client.executions.cancel(execution.id)

        status, _, err = run_cli(capsys, "wait", execution.id)

    assert status == code("ExecutionCancelledError") == 11
    assert_error(err)


def test_wait_timeout_exits_12_and_says_how_to_resume(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(execution_delay=600) as emu:
        monkeypatch.setenv("KNOUDS_API_KEY", emu.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emu.base_url)
        status, out, _ = run_cli(capsys, "submit", "gpt-image-2", "-i", "prompt=x")
        execution_id = out.strip()

        status, _, err = run_cli(capsys, "wait", execution_id, "--timeout", "0.05")

    assert status == code("ExecutionTimeoutError") == 12
    assert_error(err, f"knouds wait {execution_id}")


def test_python_dash_m_knouds(emu: Emulator, tmp_path: Path) -> None:
    env = {**os.environ, "KNOUDS_API_KEY": emu.api_key, "KNOUDS_BASE_URL": emu.base_url}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    def knouds_cmd(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "knouds", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    helped = knouds_cmd("--help")
    assert helped.returncode == 0
    assert "exit codes:" in helped.stdout

    ran = knouds_cmd("run", "gpt-image-2", "-i", "prompt=a red fox", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["cost"] == 4

    missing = knouds_cmd("run", "no-such-model", "-i", "prompt=x")
    assert missing.returncode == 6
    assert missing.stderr.startswith("knouds: error: ")
