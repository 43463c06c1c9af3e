"""A real Celery worker with a Redis broker: a worker process killed in the middle of a paid task,
the task delivered again, and the run executed once (the emulator's log is the proof)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import knouds
from knouds.testing import Emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> ModuleType:
    """The example's Celery app and task, configured for this test's Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    spec = importlib.util.spec_from_file_location(
        "celery_batch_under_test", EXAMPLES / "celery_batch.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_worker_killed_mid_task_does_not_pay_twice_on_redelivery(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    example = load_example(monkeypatch, redis_url)
    with Emulator(execution_delay=1.0) as emu:
        env = {
            **os.environ,
            "KNOUDS_API_KEY": emu.api_key,
            "KNOUDS_BASE_URL": emu.base_url,
            "REDIS_URL": redis_url,
        }
        command = [sys.executable, "-m", "celery", "--workdir", str(EXAMPLES), "-A"]
        command += ["celery_batch", "worker", "--concurrency", "1", "--loglevel", "warning"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        worker = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        journal = knouds.RedisJournal(redis_url, namespace="orders")
        try:
            task = example.generate.delay("1234", "a red fox")
            deadline = time.monotonic() + 30
            while (entry := journal.get("order-1234")) is None or entry.state != "submitted":
                assert time.monotonic() < deadline, "the task never submitted its run"
                assert worker.poll() is None, "the worker exited"
                time.sleep(0.02)
            # The pool process running the task, mid-wait: its execution is still processing.
            victim = int(entry.owner.split("/")[1])
            os.kill(victim, signal.SIGKILL)

            result = task.get(timeout=30)  # Celery delivers the task again to a new process
        finally:
            journal.close()
            worker.terminate()
            worker.wait(timeout=30)

        runs = [e for e in emu.log if e.run is not None]
        polls = [e for e in emu.log if e.path.startswith("/api/executions/")]

    assert len(runs) == 1  # paid once
    assert emu.run_count() == 1
    assert result["order"] == "1234"
    assert result["url"].endswith(".png")
    assert victim != worker.pid
    assert {p.path for p in polls} == {f"/api/executions/{entry.execution_id}"}
