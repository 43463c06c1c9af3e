"""Every example, scripts and notebook, runs unchanged against the local emulator.

Each script runs in a fresh interpreter with ``KNOUDS_API_KEY`` removed from the environment and a
temporary working directory, exactly as a user would run it on a machine with no account; the
notebook is executed cell by cell in a real ipykernel kernel.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EMULATOR_LINE = "KNOUDS_API_KEY is not set: using the local Knouds emulator at http://127.0.0.1:"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TESTED = {
    "quickstart.py",
    "async_execution.py",
    "async_batch.py",
    "workflow.py",
    "rate_limits.py",
    "shared_budget.py",
    "celery_batch.py",
    "_local_redis.py",  # the Redis of the two examples above
    "telemetry.py",
    "quickstart.ipynb",
}


def _offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("KNOUDS_API_KEY", "KNOUDS_BASE_URL")}


def run_example(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``examples/<name>`` as a user would, without an API key; return its stdout.

    The example runs in a session of its own, and the whole session is killed afterwards: an
    example that starts workers (Celery) never leaves one behind, even when it times out.
    """
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env={**_offline_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 0, (
        f"{name} exited with {process.returncode}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    )
    assert stdout.startswith(EMULATOR_LINE), stdout
    return stdout


def test_every_example_is_tested() -> None:
    found = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".ipynb")}
    assert found == TESTED


def test_quickstart_saves_the_image(tmp_path: Path) -> None:
    out = run_example("quickstart.py", "out", cwd=tmp_path)

    assert "RunResult(cost=" in out
    assert re.search(r"^credits spent: \d+, server time: \d+ ms$", out, re.MULTILINE)
    assert re.search(r"^rate limit: \d+/\d+ left$", out, re.MULTILINE)
    saved = list((tmp_path / "out").iterdir())
    assert len(saved) == 1
    assert saved[0].suffix == ".png"
    assert saved[0].read_bytes().startswith(PNG_MAGIC)
    assert f"saved: {saved[0]}" in out


def test_quickstart_default_output_directory_and_empty_key(tmp_path: Path) -> None:
    # The CI runs the README's first command as `KNOUDS_API_KEY= python examples/quickstart.py`.
    out = run_example("quickstart.py", cwd=tmp_path, env={"KNOUDS_API_KEY": ""})

    saved = list((tmp_path / "knouds-output").glob("*.png"))
    assert len(saved) == 1
    assert saved[0].read_bytes().startswith(PNG_MAGIC)
    assert f"output folder: {tmp_path / 'knouds-output'}" in out  # says where, in full


def test_default_output_folders_are_ignored_by_git() -> None:
    # Running an example from a checkout must not leave an untracked folder behind.
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    scripts = "".join(p.read_text(encoding="utf-8") for p in EXAMPLES.glob("*.py"))
    notebook = (EXAMPLES / "quickstart.ipynb").read_text(encoding="utf-8")
    defaults = re.findall(r'output_dir: str = "([^"]+)"', scripts)
    defaults += re.findall(r'\.save\(\\"([^"\\]+)/\\"\)', notebook)
    assert len(defaults) == 3
    for folder in defaults:
        assert f"{folder}/" in ignored, folder


def test_the_notebook_is_linked_with_how_to_open_it() -> None:
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        text = page.read_text(encoding="utf-8")
        assert "examples/quickstart.ipynb" in text, page.name
        assert "jupyter lab examples/quickstart.ipynb" in text, page.name
        # nbclient (a test dependency) brings `jupyter execute`; nbconvert is installed by none.
        assert "`jupyter execute examples/quickstart.ipynb`" in " ".join(text.split()), page.name


def test_async_execution_saves_the_video(tmp_path: Path) -> None:
    out = run_example("async_execution.py", "videos", cwd=tmp_path)

    assert re.search(r"^submitted: [0-9a-f-]{36} \(processing\)$", out, re.MULTILINE)
    assert "done: RunResult(" in out
    saved = list((tmp_path / "videos").iterdir())
    assert len(saved) == 1
    assert saved[0].suffix == ".mp4"
    assert saved[0].read_bytes()[4:8] == b"ftyp"  # the ISO base media file signature


def test_async_batch_reports_each_input_and_a_summary(tmp_path: Path) -> None:
    out = run_example("async_batch.py", cwd=tmp_path)

    oks = re.findall(r"^\s*\d+ ok ", out, re.MULTILINE)
    errors = re.findall(r"^\s*(\d+) error InvalidInputsError: ", out, re.MULTILINE)
    assert len(oks) == 28
    assert errors == ["7", "19"]
    summary = re.search(r"^summary: 28 succeeded, 2 failed, credits spent: (\d+),", out, re.M)
    assert summary is not None
    assert int(summary[1]) > 0


def test_workflow_schema_run_and_errors(tmp_path: Path) -> None:
    out = run_example("workflow.py", cwd=tmp_path)

    assert "workflow: My thumbnail pipeline" in out
    assert re.search(r"^  field prompt: text, required$", out, re.MULTILINE)
    assert re.search(r"^  field style: select, optional, one of \[", out, re.MULTILINE)
    assert "result: RunResult(" in out
    assert re.search(r"^  image: http://127\.0\.0\.1:\d+/media/image/", out, re.MULTILINE)
    assert "refused before running: " in out
    assert "'colour'" in out
    assert "WorkflowNotFoundError (HTTP 404): " in out


def test_celery_batch_runs_orders_on_a_worker_and_pays_once(tmp_path: Path, redis_url: str) -> None:
    out = run_example("celery_batch.py", cwd=tmp_path, env={"REDIS_URL": redis_url})

    orders = re.findall(r"^order (\d+): 4 credits  http://127\.0\.0\.1:\d+/media/image/", out, re.M)
    assert sorted(orders) == ["1000", "1001", "1002", "1003"]
    assert "enqueued again: 4 of 4 returned the same image" in out
    assert "the journal holds 4 runs, one per order" in out


def test_rate_limits_paces_retries_and_raises(tmp_path: Path) -> None:
    out = run_example("rate_limits.py", cwd=tmp_path)

    assert re.search(r"^result\.rate_limit: \d+ of 5 left", out, re.MULTILINE)
    assert re.search(r"^client\.rate_limits\['models'\]: \d+/5 left$", out, re.MULTILINE)
    paced = re.search(r"^paced: 12/12 runs succeeded in ([\d.]+) s, 0 retries", out, re.M)
    assert paced is not None, out
    # 13 runs at 5 per half-second window cannot all fit before a window resets: pacing waited.
    assert float(paced[1]) >= 0.5
    assert re.search(r"^unpaced: 12/12 runs succeeded in [\d.]+ s, [1-9]\d* retries", out, re.M)
    assert re.search(r"^  retry: attempt 1 of POST /api/models/gpt-image-2/run got ", out, re.M)
    assert "RateLimitError: " in out
    assert re.search(r"^  retry_after=[\d.]+ s, limit=5$", out, re.MULTILINE)
    assert "after waiting retry_after: RunResult(" in out


def _use_a_kernel_of_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure a ``python3`` kernel spec exists that runs this interpreter (the one that has
    knouds installed); when it does not, install one into a temporary prefix."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    plain_python = {"python", "python3", f"python3.{sys.version_info.minor}"}
    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
        # jupyter_client swaps a bare "python" for the current interpreter when it starts one.
        if argv0 in plain_python or Path(argv0).resolve() == Path(sys.executable).resolve():
            return
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(prefix=str(tmp_path / "jupyter-prefix"), kernel_name="python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-prefix" / "share" / "jupyter"))


def test_quickstart_notebook_runs_against_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    monkeypatch.delenv("KNOUDS_BASE_URL", raising=False)
    _use_a_kernel_of_this_interpreter(tmp_path, monkeypatch)
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), "outputs kept"
    workdir = tmp_path / "work"
    workdir.mkdir()

    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        resources={"metadata": {"path": str(workdir)}},
    ).execute()

    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert stdout.startswith(EMULATOR_LINE)
    run_cell = next(c for c in code_cells if 'client.models.run("gpt-image-2"' in c.source)
    html = [o.data["text/html"] for o in run_cell.outputs if "text/html" in o.get("data", {})]
    assert html
    assert "<img" in html[0]
    assert "ModelNotFoundError (HTTP 404 MODEL_NOT_FOUND)" in stdout
    assert "InvalidSlugError (status None)" in stdout
    assert len(re.findall(r"^a [a-z ]+: http://127\.0\.0\.1:\d+/media/image/", stdout, re.M)) == 3
    saved = list((workdir / "knouds-output").glob("*.png"))
    assert len(saved) == 1
    assert saved[0].read_bytes().startswith(PNG_MAGIC)


def test_shared_budget_processes_share_one_budget(tmp_path: Path, redis_url: str) -> None:
    out = run_example("shared_budget.py", redis_url, cwd=tmp_path)

    for n in range(3):
        assert re.search(rf"^worker-{n}: 10 runs in [\d.]+ s$", out, re.MULTILINE), out
    assert "the server answered 30 runs and 0 429s" in out


def _local_redis() -> Any:
    spec = importlib.util.spec_from_file_location("_local_redis", EXAMPLES / "_local_redis.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_start_a_redis_of_their_own_when_given_none() -> None:
    local_redis = _local_redis()
    with contextlib.ExitStack() as stack:
        url = local_redis.redis_url(None, stack)
        assert url.startswith("redis://127.0.0.1:")
        assert local_redis._answers(url)
        assert local_redis.redis_url(url, stack) == url  # a URL that answers is used as given
    assert not local_redis._answers(url)  # stopped with the example


def test_examples_stop_at_once_when_the_redis_given_does_not_answer() -> None:
    local_redis = _local_redis()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    started = time.monotonic()
    with contextlib.ExitStack() as stack, pytest.raises(SystemExit) as info:
        local_redis.redis_url(dead, stack)
    assert time.monotonic() - started < 5
    assert f"No Redis answers at {dead}" in str(info.value.code)
    assert "redis-server --port 6379" in str(info.value.code)


def test_telemetry_prints_the_spans_and_serves_the_metrics_to_prometheus(tmp_path: Path) -> None:
    out = run_example("telemetry.py", cwd=tmp_path)

    assert out.count('"name": "generate_content gpt-image-2"') == 3
    assert '"http.request.resend_count": 1' in out  # the 429 was retried
    assert '"name": "knouds.retry"' in out
    assert '"name": "knouds.pacing"' in out
    assert re.search(r"^scraped http://127\.0\.0\.1:\d+/metrics:$", out, re.MULTILINE)
    credits = re.search(
        r'^knouds_credits_total\{.*gen_ai_request_model="gpt-image-2".*\} (\S+)$', out, re.M
    )
    assert credits is not None
    assert float(credits[1]) > 0
    assert re.search(r"^gen_ai_client_operation_duration_seconds_count\{.*\} 3\.0$", out, re.M)
    assert re.search(
        r'^knouds_retries_total\{.*knouds_retry_reason="rate_limited".*\} 1\.0$', out, re.M
    )
