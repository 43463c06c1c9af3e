"""One OS process of a batch that shares (or not) a rate-limit budget with its siblings.

Run by the multi-process tests and the benchmark::

    python -m tests.e2e._budget_worker CONFIG_JSON

It builds one client, prints ``ready``, waits for a line on stdin (so every process starts at
once), runs its share of the batch from several threads or tasks, and prints one JSON line:
results, knouds errors by class, store warnings logged and the CPU seconds the batch took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import knouds

MODEL = "gpt-5-mini"


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unavailable = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "store unavailable" in record.getMessage():
            self.unavailable += 1


def _options(config: dict[str, Any]) -> dict[str, Any]:
    policy = knouds.RetryPolicy(max_retries=50, max_retry_wait=3600)
    return {
        "api_key": config["key"],
        "base_url": config["base_url"],
        "pace": config.get("pace", True),
        "retry": policy,
        "rate_limit_store": config.get("store", "local"),
    }


def _sync(config: dict[str, Any], outcome: dict[str, Any]) -> None:
    with knouds.Client(**_options(config)) as client:
        _ready(outcome)

        def one(i: int) -> None:
            try:
                client.models.run(MODEL, {"prompt": f"{config['name']} {i}"})
                outcome["ok"] += 1
            except knouds.KnoudsError as error:
                name = type(error).__name__
                outcome["errors"][name] = outcome["errors"].get(name, 0) + 1

        with ThreadPoolExecutor(config["workers"]) as pool:
            list(pool.map(one, range(config["runs"])))
        outcome["shared"] = getattr(client._pacing, "available", None)


async def _async(config: dict[str, Any], outcome: dict[str, Any]) -> None:
    async with knouds.AsyncClient(**_options(config)) as client:
        await asyncio.to_thread(_ready, outcome)
        jobs = iter(range(config["runs"]))

        async def worker() -> None:
            for i in jobs:
                try:
                    await client.models.run(MODEL, {"prompt": f"{config['name']} {i}"})
                    outcome["ok"] += 1
                except knouds.KnoudsError as error:
                    name = type(error).__name__
                    outcome["errors"][name] = outcome["errors"].get(name, 0) + 1

        await asyncio.gather(*(worker() for _ in range(config["workers"])))
        outcome["shared"] = getattr(client._pacing, "available", None)


def _ready(outcome: dict[str, Any]) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    outcome["cpu"] = time.process_time()


def main() -> None:
    config = json.loads(sys.argv[1])
    counter = _Count()
    logging.getLogger("knouds").addHandler(counter)
    outcome: dict[str, Any] = {"ok": 0, "errors": {}}
    if config["kind"] == "sync":
        _sync(config, outcome)
    else:
        asyncio.run(_async(config, outcome))
    outcome["cpu"] = time.process_time() - outcome["cpu"]
    outcome["unavailable_warnings"] = counter.unavailable
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
