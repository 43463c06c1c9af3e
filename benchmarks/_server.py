"""A tiny, fast HTTP/1.1 server for the benchmarks, run in its own process.

It answers every POST with a fixed Knouds run body and the ``X-RateLimit-*`` headers (a limit
high enough that pacing never waits), and every ``/v1/chat/completions`` POST with a fixed OpenAI
chat completion and every ``/v1/messages`` POST with a fixed Anthropic message, so peer SDKs can
be measured against the same server. It runs on uvloop when that is installed (as a production
server would), so the server is not the bottleneck of a client benchmark. ``--delay`` holds each
answer that many seconds (for the slow-run benchmark). Keep-alive, no pipelining, no TLS.

Running it as a separate process keeps the server's CPU out of the client's ``process_time()``.

    python benchmarks/_server.py [--delay 0]        # prints "PORT <n>" once listening

From a benchmark: ``with BenchServer(delay=0.0) as server: server.base_url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import os
import subprocess
import sys
import time
from types import TracebackType

RUN_BODY = json.dumps(
    {
        "success": True,
        "result": {"images": ["https://knouds-media.s3.amazonaws.com/out/a1b2c3.png"]},
        "cost": 1,
        "ms": 1234,
    }
).encode()
CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1714512000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a red fox"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()
MESSAGE_BODY = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "a red fox"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }
).encode()
LIMIT = 10_000_000
WINDOW = 60


class _Headers:
    """Response head bytes, rebuilt at most once per second (the ``Date`` header changes)."""

    def __init__(self) -> None:
        self._second = -1
        self._served = 0
        self._run = b""
        self._chat = b""
        self._message = b""

    def get(self, route: str) -> bytes:
        """The whole answer for ``"run"``, ``"chat"`` or ``"message"``."""
        now = time.time()
        second = int(now)
        self._served += 1
        if second != self._second:
            self._second = second
            date = email.utils.formatdate(now, usegmt=True)
            reset = (second // WINDOW + 1) * WINDOW
            remaining = max(LIMIT - self._served, 0)
            common = f"date: {date}\r\ncontent-type: application/json\r\n"
            self._run = (
                "HTTP/1.1 200 OK\r\n"
                f"{common}x-ratelimit-limit: {LIMIT}\r\nx-ratelimit-remaining: {remaining}\r\n"
                f"x-ratelimit-reset: {reset}\r\ncontent-length: {len(RUN_BODY)}\r\n\r\n"
            ).encode() + RUN_BODY
            self._chat = (
                f"HTTP/1.1 200 OK\r\n{common}content-length: {len(CHAT_BODY)}\r\n\r\n"
            ).encode() + CHAT_BODY
            self._message = (
                f"HTTP/1.1 200 OK\r\n{common}content-length: {len(MESSAGE_BODY)}\r\n\r\n"
            ).encode() + MESSAGE_BODY
        if route == "chat":
            return self._chat
        return self._message if route == "message" else self._run


class _Protocol(asyncio.Protocol):
    def __init__(self, heads: _Headers, delay: float) -> None:
        self._heads = heads
        self._delay = delay
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            line = head[: head.find(b"\r\n")]
            route = "run"
            if b"/chat/completions" in line:
                route = "chat"
            elif b"/v1/messages" in line:
                route = "message"
            self._buffer = self._buffer[total:]
            if self._delay > 0:
                self._loop.call_later(self._delay, self._answer, route)
            else:
                self._answer(route)

    def _answer(self, route: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self._heads.get(route))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(delay: float, port: int) -> None:
    heads = _Headers()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Protocol(heads, delay), "127.0.0.1", port, backlog=4096
    )
    sock_port = server.sockets[0].getsockname()[1]
    print(f"PORT {sock_port}", flush=True)
    async with server:
        await server.serve_forever()


class BenchServer:
    """The server above in a subprocess; ``base_url`` once started."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> BenchServer:
        self._process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--delay", str(self.delay)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            self._process.kill()
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(args.delay, args.port))


if __name__ == "__main__":
    main()
