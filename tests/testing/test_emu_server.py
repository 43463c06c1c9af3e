"""The socket server, the command line, import hygiene, and the pytest plugin."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds.testing
from knouds.testing import Emulator

ROOT = Path(knouds.testing.__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def test_start_stop_is_fast_and_idempotent() -> None:
    started = time.monotonic()
    emu = Emulator().start()
    emu.start()
    url = emu.base_url
    assert url.startswith("http://127.0.0.1:")
    with httpx.Client(verify=False) as http:
        assert http.get(f"{url}/api/whoami", headers={"x-api-key": emu.api_key}).is_success
    emu.stop()
    emu.stop()
    assert time.monotonic() - started < 3.0
    with pytest.raises(RuntimeError):
        _ = emu.base_url


def test_transport_works_without_start() -> None:
    emu = Emulator()
    with httpx.Client(transport=emu.transport(), base_url="http://e.test") as http:
        assert http.get("/api/whoami", headers={"x-api-key": emu.api_key}).is_success


def test_keep_alive_reuses_one_connection(emu: Emulator) -> None:
    with httpx.Client(base_url=emu.base_url, verify=False) as http:
        for _ in range(20):
            assert http.get("/api/whoami", headers={"x-api-key": emu.api_key}).is_success
        assert emu._server is not None
        assert len(emu._server._connections) == 1


def test_many_concurrent_slow_runs() -> None:
    with Emulator(run_delay=0.2) as emu:
        limits = httpx.Limits(max_connections=300)
        with httpx.Client(base_url=emu.base_url, verify=False, limits=limits) as http:

            def one(i: int) -> int:
                response = http.post(
                    "/api/models/gpt-5-mini/run",
                    json={"inputs": {"prompt": str(i)}},
                    headers={"x-api-key": emu.api_key},
                )
                return response.status_code

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=150) as pool:
                statuses = list(pool.map(one, range(150)))
            elapsed = time.monotonic() - started
    assert statuses == [200] * 150
    assert elapsed < 10.0  # held in parallel, not one after another (30 s)
    assert emu.run_count("gpt-5-mini") == 150


def test_chunked_request_body(emu: Emulator) -> None:
    def body() -> Any:
        yield b'{"inputs": '
        yield b'{"prompt": "x"}}'

    with httpx.Client(base_url=emu.base_url, verify=False) as http:
        response = http.post(
            "/api/models/gpt-image-2/run", content=body(), headers={"x-api-key": emu.api_key}
        )
    assert response.status_code == 200


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# SIGINT is sent to a child that inherited it ignored (as background jobs and some runners
# start processes): the emulator must install its own handler rather than rely on the default.
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_command_line_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "knouds.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_ignore_sigint,
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        while len(lines) < 2:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                lines[name] = value
        with httpx.Client(verify=False) as http:
            response = http.get(
                f"{lines['KNOUDS_BASE_URL']}/api/whoami",
                headers={"x-api-key": lines["KNOUDS_API_KEY"]},
            )
        assert response.status_code == 200
        process.send_signal(stop_signal)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_emulator_imports_only_stdlib_httpx_and_itself() -> None:
    allowed = {"httpx", "pytest", "pytest_asyncio", "knouds.testing", "knouds._pytest_plugin"}
    package = Path(knouds.testing.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = (
                    top in sys.stdlib_module_names
                    or name in allowed
                    or name.startswith("knouds.testing.")
                    or top in allowed
                )
                assert ok, f"{source.name} imports {name}"


pytest_plugins = ["pytester"]


def test_emulator_fixture_in_a_plugin_user(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    pytester.makepyfile(
        """
        import httpx

        def test_uses_fixture(knouds_emulator):
            with httpx.Client(base_url=knouds_emulator.base_url) as http:
                response = http.get(
                    "/api/whoami", headers={"x-api-key": knouds_emulator.api_key}
                )
            assert response.json()["user"]["tier"] == "business"
        """
    )
    # No -p and no conftest: the plugin comes from the package's pytest11 entry point.
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_the_plugin_costs_nothing_until_a_fixture_is_used() -> None:
    # pytest imports the plugin in every session of every project that has knouds installed.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    entry_point = re.search(r'\[project\.entry-points\.pytest11\]\nknouds = "([\w.]+)"', pyproject)
    assert entry_point is not None
    code = (
        "import sys, pytest\n"
        "before = set(sys.modules)\n"
        f"import {entry_point[1]}\n"
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded = ast.literal_eval(out.stdout.strip())
    heavy = ("httpx", "pydantic", "tenacity", "anyio", "knouds.testing", "knouds._sync.client")
    assert [name for name in loaded if name.startswith(heavy)] == []


def test_client_fixture(knouds_client: Any, knouds_emulator: Emulator) -> None:
    result = knouds_client.models.run("gpt-image-2", {"prompt": "a red fox"})
    assert result.cost == 4
    assert knouds_emulator.run_count("gpt-image-2") == 1


async def test_async_client_fixture(knouds_async_client: Any, knouds_emulator: Emulator) -> None:
    result = await knouds_async_client.models.run("suno-v5", {"prompt": "x"})
    assert result.cost == 10
    assert knouds_emulator.run_count("suno-v5") == 1


@pytest.fixture
def store_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # An application's own setting, present in its test environment (nothing listens there).
    monkeypatch.setenv("KNOUDS_RATE_LIMIT_STORE", "redis://127.0.0.1:9/0")


async def test_fixture_clients_pace_locally_whatever_the_environment_says(
    store_in_environment: None, knouds_client: Any, knouds_async_client: Any
) -> None:
    from knouds._stores.pacing import LocalPacing

    assert isinstance(knouds_client._pacing, LocalPacing)
    assert isinstance(knouds_async_client._pacing, LocalPacing)


def test_ms_is_the_time_the_emulator_takes() -> None:
    # A sync run is held for run_delay before the answer; an execution stays processing for
    # execution_delay (emulator time, here a manual clock). ``ms`` reports exactly that.
    from knouds.testing import ManualClock

    clock = ManualClock()
    with (
        Emulator(run_delay=0.15, execution_delay=30, clock=clock) as emu,
        httpx.Client(base_url=emu.base_url, headers={"x-api-key": emu.api_key}) as http,
    ):
        started = time.monotonic()
        body = http.post("/api/models/gpt-5-mini/run", json={"inputs": {"prompt": "a"}}).json()
        took = time.monotonic() - started
        assert body["ms"] == 150
        assert took >= 0.15
        submitted = http.post(
            "/api/models/gpt-image-2/run?async=true", json={"inputs": {"prompt": "a"}}
        ).json()
        clock.advance(31)
        done = http.get(f"/api/executions/{submitted['executionId']}").json()
        assert done["status"] == "completed"
        assert done["ms"] == 30_000
    with Emulator() as emu, httpx.Client(base_url=emu.base_url) as http:
        answer = http.post(
            "/api/models/gpt-image-2/run",
            json={"inputs": {"prompt": "a red fox in the snow"}},
            headers={"x-api-key": emu.api_key},
        )
        assert answer.json()["ms"] == 0  # answered at once
