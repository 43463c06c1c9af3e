"""The Redis test server is real: it answers, keeps data, and can be stopped and started again."""

from __future__ import annotations

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
