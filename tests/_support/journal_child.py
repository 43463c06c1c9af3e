"""Child processes for the crash tests: a journaled batch (or one keyed run) that reports back.

The tests start them from a ``forkserver`` that has imported knouds once, so each child starts in
milliseconds instead of paying the import again; each child is still a real process of its own,
which the tests SIGKILL at random points. A child sends ``"ready"`` on its pipe once its client
is built (kills are timed from there), then its outcome.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx  # noqa: F401 - imported once by the fork server, so children start warm

import knouds
import knouds._async.client
import knouds._core.pipeline
import knouds._sync.client

MODEL = "gpt-image-2"
_context: Any = None


@dataclass(frozen=True)
class Job:
    """What one child does."""

    kind: str  # "sync" or "async"
    base_url: str
    api_key: str
    journal: str
    count: int = 12
    concurrency: int = 4
    submit: bool = False
    key: str | None = None  # one run with this idempotency key instead of a batch


def prompts(count: int) -> list[dict[str, str]]:
    return [{"prompt": f"prompt {i}"} for i in range(count)]


def describe(outcomes: list[Any]) -> list[dict[str, Any]]:
    described = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, knouds.RunResult):
            described.append({"index": index, "status": "completed", "url": outcome.images[0].url})
        elif isinstance(outcome, knouds.UnknownOutcomeError):
            described.append({"index": index, "status": "unknown", "key": outcome.key})
        else:
            described.append({"index": index, "status": "failed", "error": repr(outcome)})
    return described


def _options(job: Job) -> dict[str, Any]:
    return {
        "journal": job.journal,
        "concurrency": job.concurrency,
        "submit": job.submit,
        "poll_interval": 0.02,
    }


def _run_sync(job: Job, conn: Connection) -> Any:
    journal = job.journal if job.key else None
    with knouds.Client(api_key=job.api_key, base_url=job.base_url, journal=journal) as client:
        conn.send("ready")
        if job.key:
            inputs = {"prompt": "shared order"}
            return client.models.run(MODEL, inputs, idempotency_key=job.key).images[0].url
        return describe(client.models.run_many(MODEL, prompts(job.count), **_options(job)))


async def _run_async(job: Job, conn: Connection) -> Any:
    journal = job.journal if job.key else None
    async with knouds.AsyncClient(
        api_key=job.api_key, base_url=job.base_url, journal=journal
    ) as client:
        conn.send("ready")
        if job.key:
            inputs = {"prompt": "shared order"}
            result = await client.models.run(MODEL, inputs, idempotency_key=job.key)
            return result.images[0].url
        outcomes = await client.models.run_many(MODEL, prompts(job.count), **_options(job))
        return describe(outcomes)


def child_main(job: Job, conn: Connection) -> None:
    """The child's entry point: run the job, send its outcome."""
    outcome = _run_sync(job, conn) if job.kind == "sync" else asyncio.run(_run_async(job, conn))
    conn.send(outcome)
    conn.close()


class Child:
    """One child process running a `Job`."""

    def __init__(self, job: Job) -> None:
        global _context
        if _context is None:
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(["tests._support.journal_child"])
        self._receive, send = _context.Pipe(duplex=False)
        self.process = _context.Process(target=child_main, args=(job, send), daemon=True)
        self.process.start()
        send.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the child's client is built."""
        if not self._receive.poll(timeout) or self._receive.recv() != "ready":
            raise RuntimeError(f"the child did not start (exit code {self.process.exitcode})")

    def kill(self) -> None:
        """SIGKILL the child and wait until it is gone (reaped: not a zombie)."""
        self.process.kill()
        self.process.join(10)
        self._receive.close()

    def result(self, timeout: float = 60.0) -> Any:
        """The child's outcome, once it finished."""
        if not self._receive.poll(timeout):
            self.kill()
            raise RuntimeError("the child did not finish in time")
        outcome = self._receive.recv()
        if outcome == "ready":
            outcome = self.result(timeout)
        self.process.join(10)
        return outcome
