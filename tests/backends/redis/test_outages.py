"""A Redis of the test's own, paused, restarted empty, and a coordinator killed with SIGKILL.

Each test starts its own redis-server on a free port and stops it by its pid: the
shared Redis the other tests use is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from dtq.log.verify import verdict_lines, verify_log
from tests.backends.redis.test_cli import TIMEOUT_S, _dtq, _events, _finish, _line

START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnRedis:
    """A redis-server of this test alone, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return process
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        process.kill()
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def client(self) -> redis.Redis:
        """A plain client (strings, not bytes)."""
        return redis.Redis(port=self.port, decode_responses=True)

    def pause(self, seconds: float) -> None:
        """Stop the server (SIGSTOP) for `seconds`, then let it go on."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def restart_empty(self) -> None:
        """Kill the server and start a new, empty one on the same port."""
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        """Kill this server, by its pid."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=TIMEOUT_S)


def _scenario(folder: Path, url: str, **changes: Any) -> Path:
    """Tasks of 500ms served by `dtq worker` processes; leases expire after 1s of silence."""
    data: dict[str, Any] = {
        "name": "outage",
        "seed": 2,
        "clock": "real",
        "workers": 0,
        "backend": url,
        "visibility_timeout": "1s",
        "task_types": {"job": {"duration": {"dist": "constant", "value": "500ms"}}},
        "arrivals": [{"pattern": "burst", "task": "job", "count": 40}],
        **changes,
    }
    path = folder / "outage.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_for_start(log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if any(e["event"] == "task_started" for e in _events(log)):
            return
        time.sleep(0.05)
    raise AssertionError("no attempt started")


def _kill_all(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.slow
def test_a_worker_whose_coordinator_is_killed_says_so_exits_2_and_the_keys_expire(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    """SIGKILL of `dtq run`: past the coordinator's deadline the worker says the run is
    abandoned and exits 2; every key of the dead run has a time to live."""
    log = tmp_path / "run.jsonl"
    run = _dtq("run", str(_scenario(tmp_path, own_redis.url)), "--log", str(log))
    worker = _dtq("worker", "--broker", own_redis.url, "--concurrency", "1", "--wait", "20")
    try:
        assert worker.stdout is not None
        joined = _line(worker.stdout, TIMEOUT_S)
        assert "joined run" in joined, joined
        _wait_for_start(log)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=TIMEOUT_S)
        code, _, err = _finish(worker)
    finally:
        _kill_all(run, worker)
    assert code == 2, err
    assert "is abandoned: its coordinator (dtq run) has been silent" in err
    assert "Traceback" not in err
    client = own_redis.client()
    try:
        keys = client.keys("*")
        assert keys, "the dead run's keys are still there to look at, for a while"
        assert "dtq:current" not in keys, "new workers must not join the dead run"
        assert {key: client.ttl(key) for key in keys if client.ttl(key) < 0} == {}
    finally:
        client.close()


@pytest.mark.slow
def test_workers_exit_2_when_redis_restarts_empty_under_a_run(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    """The run's state is gone: the coordinator fails the run (exit 1), workers exit 2."""
    log = tmp_path / "run.jsonl"
    run = _dtq("run", str(_scenario(tmp_path, own_redis.url)), "--log", str(log))
    worker = _dtq("worker", "--broker", own_redis.url, "--concurrency", "2", "--wait", "20")
    try:
        _wait_for_start(log)
        own_redis.restart_empty()
        run_code, run_out, run_err = _finish(run)
        code, out, err = _finish(worker)
    finally:
        _kill_all(run, worker)
    assert run_code == 1, run_out + run_err
    assert code == 2, out + err
    assert "failed" in err or "gone from Redis" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_redis_pause_as_long_as_the_visibility_timeout_crashes_no_worker(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    """Redis stopped for 1s (the visibility timeout) mid-run: every worker was alive all
    along, so none is logged as crashed and no task is delivered twice."""
    log = tmp_path / "run.jsonl"
    path = _scenario(tmp_path, own_redis.url, workers=3)
    run = _dtq("run", str(path), "--log", str(log))
    try:
        _wait_for_start(log)
        own_redis.pause(1.0)
        code, out, err = _finish(run)
    finally:
        _kill_all(run)
    assert code == 0, out + err
    events = _events(log)
    assert [e for e in events if e["event"] in ("worker_crashed", "task_redelivered")] == []
    assert events[-1]["totals"]["succeeded"] == 40
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
