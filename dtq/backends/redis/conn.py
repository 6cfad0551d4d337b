"""A connection to Redis that rides out short outages and turns long ones into BackendError.

Every call goes through `RedisConnection.call`: a lost connection or a timeout is
retried with a growing pause for up to `ride_out_s` seconds (a Redis restarting, a
network blip); past that, the caller gets a `BackendError` that names the server and
says what to check. Nothing waits forever: sockets have timeouts and the ride-out has
a deadline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dtq.errors import BackendError, UsageError

T = TypeVar("T")

NAMESPACE_ENV = "DTQ_REDIS_NAMESPACE"
DEFAULT_NAMESPACE = "dtq"
RIDE_OUT_S = 5.0
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
GONE_MARK = "DTQ_GONE"

# A thread holds at most one connection at a time, but a worker waiting for work or for
# its turn in a dependency's line holds it while it blocks: with hundreds of worker
# threads, the client's default pool of 100 would run out. This cap only guards a leak.
MAX_CONNECTIONS = 10_000

_FIRST_PAUSE_S = 0.05
_MAX_PAUSE_S = 1.0


class RunGone(BackendError):
    """The run's keys are gone from Redis: it ended and was cleaned up, or Redis lost them."""


def namespace_from_env() -> str:
    """The key namespace: `$DTQ_REDIS_NAMESPACE`, else `dtq` (UsageError if unusable)."""
    value = os.environ.get(NAMESPACE_ENV, DEFAULT_NAMESPACE)
    return check_namespace(value, source=f"${NAMESPACE_ENV}")


def check_namespace(value: str, *, source: str) -> str:
    """`value` if it can prefix Redis keys and client names (no spaces, not empty)."""
    if not value or not value.isprintable() or any(c.isspace() for c in value):
        raise UsageError(
            f"{source}: a key namespace is a non-empty word without spaces (got {value!r})"
        )
    return value


def describe_url(url: str) -> str:
    """`url` without a password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"***@{host}{port}").geturl()


class RedisConnection:
    """One Redis client (thread-safe, pooled) for one role: coordinator or worker process."""

    def __init__(self, url: str, *, client_name: str, ride_out_s: float = RIDE_OUT_S) -> None:
        self.url = url
        self.ride_out_s = ride_out_s
        self.closed = threading.Event()
        try:
            self.client: redis.Redis = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                client_name=client_name,
                max_connections=MAX_CONNECTIONS,
                # Retries are ours (`call`): redis-py's own would hide the deadline.
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise UsageError(f"{describe_url(url)}: not a Redis URL ({exc})") from None

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn` (one Redis round trip), riding out connection trouble for a while."""
        deadline: float | None = None
        pause_s = _FIRST_PAUSE_S
        while True:
            try:
                return fn()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.ride_out_s
                if now >= deadline or self.closed.is_set():
                    raise self._unreachable(what, exc) from None
                time.sleep(min(pause_s, deadline - now))
                pause_s = min(pause_s * 2.0, _MAX_PAUSE_S)
            except redis.ResponseError as exc:
                if GONE_MARK in str(exc):
                    raise RunGone(
                        f"the run's state is gone from Redis at {describe_url(self.url)} "
                        "(the run ended and was cleaned up, or Redis restarted empty or was "
                        "flushed)"
                    ) from None
                raise BackendError(
                    f"Redis at {describe_url(self.url)} refused {what}: {exc}"
                ) from None
            except redis.RedisError as exc:
                raise BackendError(
                    f"Redis at {describe_url(self.url)} failed during {what}: {exc}"
                ) from None

    def _unreachable(self, what: str, exc: Exception) -> BackendError:
        return BackendError(
            f"Redis at {describe_url(self.url)} did not answer for {self.ride_out_s:g}s during "
            f"{what} ({exc or type(exc).__name__}); check that it runs and is reachable "
            f"(redis-cli -u {describe_url(self.url)} ping)"
        )

    def close(self) -> None:
        """Stop riding out outages and close every pooled connection."""
        self.closed.set()
        self.client.close()
