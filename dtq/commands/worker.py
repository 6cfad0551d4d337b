"""`dtq worker --broker redis://...`: join a running distributed scenario from any machine."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from typing import Any

from pydantic import ValidationError

from dtq import __version__
from dtq.backends.redis.conn import (
    RedisConnection,
    RunGone,
    check_namespace,
    describe_url,
    namespace_from_env,
)
from dtq.backends.redis.store import (
    ABANDONED,
    ABANDONED_TTL_S,
    RunKeys,
    RunStore,
    find_current,
    scenario_of,
)
from dtq.backends.redis.worker import WorkerPool
from dtq.engine.runner import stop_signals
from dtq.errors import BackendError, UsageError
from dtq.events import STATUS_FAILED
from dtq.scenario.compile import compile_plan
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.models import Scenario
from dtq.scenario.references import is_redis_url

# After a stop request, running attempts get this long to finish before they are given back.
GRACE_S = 2.0
_POLL_S = 0.2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq worker` to the command line."""
    parser = subparsers.add_parser(
        "worker",
        help="join a running distributed scenario as workers",
        description="Join the scenario that `dtq run` is running on a Redis backend, as "
        "N worker threads; leave when the run finishes. Ctrl-C leaves early: running "
        "attempts get a moment to finish, the rest are delivered again to other workers.",
    )
    parser.add_argument("--broker", required=True, metavar="URL", help="redis://HOST:PORT/DB")
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="worker threads (default 4)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="S",
        help="how long to wait for a run to start (default 30 seconds)",
    )
    parser.add_argument(
        "--namespace",
        metavar="NAME",
        help="the key namespace of the run (default $DTQ_REDIS_NAMESPACE, else dtq)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Serve the current run until it ends: 0, or 2 (no run, Redis unreachable, the run
    failed or its coordinator fell silent)."""
    if not is_redis_url(args.broker):
        raise UsageError(
            f"--broker: must be a redis URL like redis://127.0.0.1:6379/0 (got {args.broker!r})"
        )
    if not 1 <= args.concurrency <= 4096:
        raise UsageError(f"--concurrency: must be between 1 and 4096 (got {args.concurrency})")
    if not args.wait >= 0:
        raise UsageError(f"--wait: must be 0 or more seconds (got {args.wait:g})")
    namespace = (
        check_namespace(args.namespace, source="--namespace")
        if args.namespace is not None
        else namespace_from_env()
    )
    conn = RedisConnection(args.broker, client_name=f"dtq:{namespace}:worker")
    try:
        return _serve(conn, namespace, args)
    finally:
        conn.close()


def _serve(conn: RedisConnection, namespace: str, args: argparse.Namespace) -> int:
    stops = [0]

    def request_stop() -> None:
        stops[0] += 1

    with stop_signals(request_stop):
        found = _find_run(conn, namespace, args.wait, args.broker, stops)
        if found is None:
            print("dtq worker: stopped before a run started", flush=True)
            return 0
        run_id, meta = found
        model = _scenario(meta, run_id)
        store = RunStore(conn, RunKeys(namespace, run_id))
        pool = WorkerPool(
            store,
            compile_plan(model),
            count=args.concurrency,
            time_scale=model.time_scale,
            visibility_timeout_s=model.visibility_timeout,
            host=f"{socket.gethostname()}:{os.getpid()}",
        )
        if pool.start() == "running":
            print(f"dtq worker: joined run {run_id} as {', '.join(pool.names)}", flush=True)
        while not pool.wait(_POLL_S) and not stops[0]:
            pass
        if stops[0]:
            pool.stop(grace_s=GRACE_S)
            pool.leave()
            print(f"dtq worker: left run {run_id} after {pool.attempts} attempts", flush=True)
            return 0
    return _ended(store, pool, run_id)


def _ended(store: RunStore, pool: WorkerPool, run_id: str) -> int:
    """Say how the run ended for this process: 0 if it ended as its coordinator meant
    (completed or interrupted), 2 if it failed or was abandoned; raise what stopped it."""
    pool.stop()
    state = pool.final_state
    if isinstance(pool.failure, RunGone):
        state = store.end_status()
        if state is None:
            raise pool.failure
    elif pool.failure is not None:
        raise pool.failure
    if state == ABANDONED:
        print(
            f"dtq worker: run {run_id} is abandoned: its coordinator (dtq run) has been "
            f"silent for {pool.coordinator_silent_s:.1f}s, so it was killed or cut off; "
            f"leaving after {pool.attempts} attempts; the run's keys expire in "
            f"{ABANDONED_TTL_S}s",
            file=sys.stderr,
            flush=True,
        )
        return 2
    if state == STATUS_FAILED:
        print(
            f"dtq worker: run {run_id} failed (the log of `dtq run` says why); "
            f"{pool.attempts} attempts run here",
            file=sys.stderr,
            flush=True,
        )
        return 2
    print(f"dtq worker: run {run_id} {state}; {pool.attempts} attempts run here", flush=True)
    return 0


def _find_run(
    conn: RedisConnection, namespace: str, wait_s: float, url: str, stops: list[int]
) -> tuple[str, dict[str, Any]] | None:
    """The current run, waiting up to `wait_s` for one; None if asked to stop meanwhile."""
    deadline = time.monotonic() + wait_s
    while not stops[0]:
        found = find_current(conn, namespace)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise BackendError(
                f"no run is going on at {describe_url(url)} (namespace {namespace}) after "
                f"waiting {wait_s:g}s; start one with `dtq run SCENARIO --backend {url}`, "
                "or pass --wait S to wait longer"
            )
        time.sleep(_POLL_S)
    return None


def _scenario(meta: dict[str, Any], run_id: str) -> Scenario:
    """The run's scenario, from the settings `dtq run` stored (same dtq version required)."""
    version = meta.get("dtq")
    if version != __version__:
        raise BackendError(
            f"run {run_id} was started by dtq {version}, this is dtq {__version__}: attempts "
            "must be drawn by the same version; install the same dtq on every machine"
        )
    data = scenario_of(meta)
    try:
        return Scenario.model_validate(data, context=SECONDS_CONTEXT)
    except (ValidationError, ValueError) as exc:
        raise BackendError(f"run {run_id} stores a scenario this dtq cannot read: {exc}") from None
