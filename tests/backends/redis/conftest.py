"""Fixtures for the tests against a real Redis at 127.0.0.1:6379 (database 13).

Each test gets its own key namespace and deletes only that namespace's keys after.
Without a Redis the tests are skipped with the reason, except under CI=true, where a
missing Redis fails them: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dtq.backends.redis.conn import NAMESPACE_ENV
from tests.backends.redis.test_outages import OwnRedis

HOST = "127.0.0.1"
PORT = 6379
DATABASE = 13
URL = f"redis://{HOST}:{PORT}/{DATABASE}"


def _problem() -> str | None:
    """Why Redis cannot be used, or None when it answers."""
    client = redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test database's URL; skips (fails under CI=true) when no Redis answers."""
    problem = _problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(
                f"CI runs the Redis tests, but no Redis answers at {HOST}:{PORT}: {problem}"
            )
        pytest.skip(
            f"no Redis answers at {HOST}:{PORT} ({problem}); start redis-server to run these"
        )
    return URL


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the test database (strings, not bytes)."""
    conn = redis.Redis.from_url(redis_url, decode_responses=True)
    yield conn
    conn.close()


@pytest.fixture
def namespace(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key namespace of this test alone (also in $DTQ_REDIS_NAMESPACE); deleted after."""
    name = f"dtq-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv(NAMESPACE_ENV, name)
    yield name
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.unlink(*keys)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of the test's own on a free port, stopped by its pid afterwards;
    skipped without the binary (failed under CI=true)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("CI runs the Redis outage tests, but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    yield server
    server.stop()
