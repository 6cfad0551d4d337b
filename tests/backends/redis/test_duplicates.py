"""A real at-least-once duplicate: verify, report and the log agree on how many runs.

The test starts its own redis-server on a free port, runs a scenario with `dtq run` and
two `dtq worker` processes against it, pauses Redis for the visibility timeout (which
crashes nobody), then stops one worker process for longer than the visibility timeout:
its leases are lost, its tasks run again elsewhere, and when it goes on it finishes the
lost runs late. Those are duplicate runs, and every tool must count the same number.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dtq.cli import main
from dtq.log.verify import verdict_lines, verify_log
from tests.backends.redis.test_cli import TIMEOUT_S, _dtq, _events, _finish, _line
from tests.backends.redis.test_outages import OwnRedis

VISIBILITY_S = 2.0
ENDS = ("task_succeeded", "task_failed")


def _scenario(folder: Path, url: str) -> Path:
    """About 16 tasks of 3s for four worker threads (in two processes): always busy, and
    each attempt holds its lease long after the log shows it started."""
    data: dict[str, Any] = {
        "name": "duplicates",
        "seed": 3,
        "clock": "real",
        "workers": 0,
        "backend": url,
        "visibility_timeout": f"{VISIBILITY_S:g}s",
        "retry": {"max_attempts": 4, "backoff": "fixed", "base_delay": "10ms"},
        "task_types": {
            "job": {"duration": {"dist": "constant", "value": "3s"}, "failures": {"io": 0.1}}
        },
        "arrivals": [{"pattern": "poisson", "task": "job", "rate": 2, "from": "0s", "until": "8s"}],
    }
    path = folder / "duplicates.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_until_holding(log: Path, workers: set[str]) -> None:
    """Until one of `workers` runs an attempt that has not ended (so it holds a lease)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        running: dict[str, str] = {}
        for event in _events(log):
            if event["event"] == "task_started":
                running[event["worker"]] = event["task_id"]
            elif event["event"] in ENDS and running.get(event["worker"]) == event["task_id"]:
                del running[event["worker"]]
        if workers & running.keys():
            return
        time.sleep(0.05)
    raise AssertionError(f"none of {sorted(workers)} held an attempt")


def duplicate_runs_in(events: list[dict[str, Any]]) -> int:
    """The definition of docs/guarantees.md applied to the raw events, apart from the
    reducer: runs started after their task ended, plus late ends of the other runs."""
    ended: set[str] = set()
    late_starts: set[tuple[str, int]] = set()
    late_ends = 0
    for event in events:
        name, task = event["event"], str(event.get("task_id"))
        if name == "task_started" and task in ended:
            late_starts.add((task, event["attempt"]))
        elif (name == "task_succeeded" and task in ended) or event.get("duplicate") is True:
            late_ends += (task, event["attempt"]) not in late_starts
        if name in ("task_succeeded", "task_dead_lettered"):
            ended.add(task)
    return len(late_starts) + late_ends


@pytest.mark.slow
def test_a_worker_paused_past_its_leases_runs_tasks_twice_and_every_tool_counts_them_alike(
    own_redis: OwnRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Redis paused for the visibility timeout, then a worker process stopped for twice
    that: verify, report and the log's own count say the same number of duplicate runs."""
    log = tmp_path / "run.jsonl"
    url = own_redis.url
    paused = _dtq("worker", "--broker", url, "--concurrency", "2", "--wait", "30")
    other = _dtq("worker", "--broker", url, "--concurrency", "2", "--wait", "30")
    run = _dtq("run", str(_scenario(tmp_path, url)), "--log", str(log), "--plain")
    try:
        assert paused.stdout is not None
        joined = _line(paused.stdout, TIMEOUT_S)
        assert "joined run" in joined, joined
        names = {name.strip() for name in joined.split(" as ", 1)[1].split(",")}
        _wait_until_holding(log, names)
        own_redis.pause(VISIBILITY_S)
        _wait_until_holding(log, names)
        os.kill(paused.pid, signal.SIGSTOP)
        try:
            time.sleep(2.5 * VISIBILITY_S)
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        code, out, err = _finish(run)
        assert code == 0, out + err
        for worker in (paused, other):
            worker_code, _, worker_err = _finish(worker)
            assert worker_code == 0, worker_err
    finally:
        for process in (run, paused, other):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    events = _events(log)
    assert events[-1]["totals"]["redelivered"] >= 1, "the stopped worker's leases were lost"
    expected = duplicate_runs_in(events)
    assert expected >= 1, "the stopped worker finished its lost runs late"
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    capsys.readouterr()
    assert main(["report", str(log), "--format", "json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert (verdict.duplicates, report["duplicate_runs"]) == (expected, expected)
