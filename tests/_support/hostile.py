"""Tiny raw-socket HTTP servers that misbehave on purpose, for reliability tests.

Each server listens on 127.0.0.1, port 0, serves every connection from its own thread with a
``behaviour(conn, request_bytes)`` function, and is bounded: a connection is closed after
``max_seconds`` or once ``max_bytes`` were written, whatever the behaviour does, and the server
stops (closing every connection) when the test leaves the ``with`` block.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable
from types import TracebackType

__all__ = [
    "Conn",
    "HostileServer",
    "chunked_forever",
    "drip_body",
    "drip_headers",
    "gzip_bomb",
    "respond",
    "silent",
]


class Conn:
    """One accepted connection with the server's bounds applied to every write."""

    def __init__(self, sock: socket.socket, stop: threading.Event, *, until: float, budget: int):
        self.sock = sock
        self._stop = stop
        self._until = until
        self._budget = budget

    @property
    def alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._until and self._budget > 0

    def send(self, data: bytes) -> bool:
        """Write ``data`` (cut to the byte budget); ``False`` once the peer or a bound is gone."""
        if not self.alive:
            return False
        data = data[: self._budget]
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self._budget -= len(data)
        return True

    def pause(self, seconds: float) -> bool:
        """Wait, waking early when the server stops; ``False`` once a bound is reached."""
        self._stop.wait(min(seconds, max(self._until - time.monotonic(), 0.0)))
        return self.alive


Behaviour = Callable[[Conn, bytes], None]


class HostileServer:
    """A loopback HTTP/1.1 server run by ``behaviour``; use as a context manager."""

    def __init__(
        self, behaviour: Behaviour, *, max_seconds: float = 5.0, max_bytes: int = 256 << 20
    ) -> None:
        self.behaviour = behaviour
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.requests: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(1.0)
        try:
            request = _read_request(sock, self._stop)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            conn = Conn(
                sock,
                self._stop,
                until=time.monotonic() + self.max_seconds,
                budget=self.max_bytes,
            )
            self.behaviour(conn, request)
        except OSError:
            pass
        finally:
            sock.close()


def _read_request(sock: socket.socket, stop: threading.Event) -> bytes | None:
    """The request head and body (by Content-Length), at most 1 MiB."""
    data = b""
    while b"\r\n\r\n" not in data:
        if stop.is_set() or len(data) > 1 << 20:
            return None
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < min(length, 1 << 20):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


# -- behaviours -----------------------------------------------------------------------------------


def respond(
    status: int = 200,
    body: bytes = b'{"success": true, "result": {"text": "ok"}, "cost": 1, "ms": 5}',
    headers: dict[str, str] | None = None,
    *,
    status_line: bytes | None = None,
) -> Behaviour:
    """Answer once, well formed unless ``status_line`` replaces the first line."""

    def behaviour(conn: Conn, request: bytes) -> None:
        head = [status_line or f"HTTP/1.1 {status} X".encode()]
        fields = {"content-type": "application/json", "content-length": str(len(body))}
        fields.update(headers or {})
        head += [f"{k}: {v}".encode() for k, v in fields.items()]
        conn.send(b"\r\n".join(head) + b"\r\n\r\n" + body)
        conn.pause(0.2)

    return behaviour


def drip_headers(every: float = 0.1) -> Behaviour:
    """A status line, then one more header line every ``every`` seconds, never ending."""

    def behaviour(conn: Conn, request: bytes) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\n")
        n = 0
        while conn.pause(every) and conn.send(f"x-drip-{n}: a\r\n".encode()):
            n += 1

    return behaviour


def drip_body(every: float = 0.1) -> Behaviour:
    """Headers promising a large body, then one byte every ``every`` seconds."""

    def behaviour(conn: Conn, request: bytes) -> None:
        conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
        )
        while conn.pause(every) and conn.send(b" "):
            pass

    return behaviour


def chunked_forever(chunk: int = 64 * 1024) -> Behaviour:
    """A chunked body of spaces that never ends (until the server's byte or time bound)."""

    def behaviour(conn: Conn, request: bytes) -> None:
        conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        piece = f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n"
        while conn.send(piece):
            pass

    return behaviour


def gzip_bomb(decompressed: int) -> Behaviour:
    """A gzip body that inflates to ``decompressed`` bytes of spaces (about 1000 to 1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [compressor.compress(block) for _ in range(decompressed // len(block))]
    payload = b"".join(parts) + compressor.flush()

    def behaviour(conn: Conn, request: bytes) -> None:
        conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
            + f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        conn.pause(0.5)

    return behaviour


def silent() -> Behaviour:
    """Read the request, then say nothing until the server stops."""

    def behaviour(conn: Conn, request: bytes) -> None:
        while conn.pause(0.1):
            pass

    return behaviour
