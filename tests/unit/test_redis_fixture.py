"""The Redis test server is real: it answers, keeps data, and can be stopped and started again."""

from __future__ import annotations

import contextlib
import os
import signal

import redis

from tests._support.redis_server import RedisServer


def test_redis_server_answers_and_restarts(redis_server: RedisServer) -> None:
    conn = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        conn.set("k", "v")
        assert conn.get("k") == b"v"
        redis_server.stop()
        try:
            conn.ping()
            raise AssertionError("a stopped server answered")
        except redis.ConnectionError:
            pass
        redis_server.start()
        assert conn.ping() is True
    finally:
        conn.close()


def test_a_frozen_redis_server_is_restarted_on_the_same_port(redis_server: RedisServer) -> None:
    port, pid = redis_server.port, redis_server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # a test that froze the server and never thawed it
    try:
        redis_server.ensure_healthy(timeout=0.5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert redis_server.pid != pid
    assert redis_server.port == port
    conn = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        assert conn.ping() is True
    finally:
        conn.close()
