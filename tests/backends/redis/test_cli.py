"""`dtq run` plus `dtq worker` processes: a worker killed with SIGKILL loses no task."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
import yaml

from dtq.log.verify import verdict_lines, verify_log
from tests.helpers import finish_process

TIMEOUT_S = 60.0
TASKS = 16


def _scenario(folder: Path, url: str) -> Path:
    """16 tasks of 1s (some fail and are retried); leases expire after 10s of silence.

    Heartbeats go every second, so a live process may miss nine in a row (a loaded CI
    machine starves processes for seconds) and still keep its workers and leases; the
    killed process sends none, and its tasks are redelivered once its 10s are up. Tasks of
    1s keep the killed workers' attempts in flight while the test notices them and kills.
    """
    data: dict[str, Any] = {
        "name": "killed",
        "seed": 4,
        "clock": "real",
        "workers": 2,
        "backend": url,
        "visibility_timeout": "10s",
        "retry": {"max_attempts": 5, "backoff": "fixed", "base_delay": "10ms"},
        "task_types": {
            "job": {"duration": {"dist": "constant", "value": "1s"}, "failures": {"io": 0.1}}
        },
        "arrivals": [{"pattern": "burst", "task": "job", "count": TASKS}],
    }
    path = folder / "killed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _dtq(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dtq", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _line(stream: IO[str], timeout_s: float) -> str:
    """The next line a process prints (empty if none comes in time)."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    ready = selector.select(timeout_s)
    selector.close()
    return stream.readline() if ready else ""


def _events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = log.read_bytes().splitlines()
    return [orjson.loads(line) for line in lines if line.endswith(b"}")]


def _wait_until_running(log: Path, workers: set[str]) -> None:
    """Until each of `workers` has started an attempt (so each holds a lease)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        started = {e.get("worker") for e in _events(log) if e["event"] == "task_started"}
        if workers <= started:
            return
        time.sleep(0.05)
    raise AssertionError(f"{sorted(workers)} never started an attempt")


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    return finish_process(process, TIMEOUT_S)


@pytest.mark.slow
def test_a_worker_killed_with_sigkill_loses_no_task(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """kill -9 of a worker process mid-run: its tasks are redelivered, counted, all end."""
    log = tmp_path / "killed.jsonl"
    run = _dtq("run", str(_scenario(tmp_path, redis_url)), "--workers", "1", "--log", str(log))
    victim = _dtq("worker", "--broker", redis_url, "--concurrency", "3", "--wait", "20")
    survivor = _dtq("worker", "--broker", redis_url, "--concurrency", "1", "--wait", "20")
    try:
        assert victim.stdout is not None
        joined = _line(victim.stdout, TIMEOUT_S)
        assert "joined run" in joined, joined
        names = {name.strip() for name in joined.split(" as ", 1)[1].split(",")}
        _wait_until_running(log, names)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=TIMEOUT_S)
        code, out, err = _finish(run)
        assert code == 0, out + err
        survivor_code, survivor_out, survivor_err = _finish(survivor)
    finally:
        for process in (run, victim, survivor):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    assert survivor_code == 0, survivor_err
    assert "completed" in survivor_out
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    events = _events(log)
    finished = events[-1]
    assert finished["totals"]["submitted"] == TASKS
    assert finished["totals"]["pending"] == 0
    redelivered = [e for e in events if e["event"] == "task_redelivered"]
    assert redelivered, "the killed worker held leases: its tasks must be redelivered"
    assert {e["lost_worker"] for e in redelivered} <= names
    assert finished["totals"]["redelivered"] == len(redelivered)
    lost = {e["worker"] for e in events if e["event"] == "worker_crashed"}
    assert lost == names


def test_a_worker_without_a_run_to_join_exits_2_and_says_so(redis_url: str, namespace: str) -> None:
    """Nothing is running in the namespace: a clear message after --wait, exit 2."""
    code, _, err = _finish(_dtq("worker", "--broker", redis_url, "--wait", "0.2"))
    assert code == 2
    assert "no run is going on" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_worker_with_an_unreachable_redis_exits_2_and_says_so() -> None:
    """Nothing listens on the port: a clear message after the ride-out window, exit 2."""
    started = time.monotonic()
    code, _, err = _finish(_dtq("worker", "--broker", "redis://127.0.0.1:1/13", "--wait", "1"))
    assert code == 2
    assert "did not answer" in err
    assert "Traceback" not in err
    assert time.monotonic() - started < 20
