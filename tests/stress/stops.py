"""Runs stopped at random moments: threaded `dtq run` processes, and distributed runs whose
coordinator, workers or Redis are stopped, killed, paused or restarted."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml

from dtq.errors import LogFormatError
from dtq.log.verify import Verdict, verdict_lines, verify_log
from tests.reliability import (
    STOPS,
    TORTURE_MAX_DELAY_S,
    TORTURE_SCENARIO,
    check_stopped,
    stop_run,
    write_scenario,
)
from tests.stress import Figures

WAIT_S = 60.0
"""How long any process of a trial may take to end once it should: past it, a hang."""


def threaded_stops(figures: Figures, folder: Path, *, runs: int, parallel: int, seed: int) -> None:
    """Start and stop `runs` threaded runs at random moments; verify every log."""
    path = write_scenario(folder, TORTURE_SCENARIO)
    rng = random.Random(seed)
    plans = [(rng.choice(STOPS), rng.uniform(0.0, TORTURE_MAX_DELAY_S)) for _ in range(runs)]

    def one(index: int) -> None:
        how, delay_s = plans[index]
        try:
            run = stop_run(path, folder / f"run-{index:04d}.jsonl", how=how, delay_s=delay_s)
        except AssertionError as exc:  # the run never opened its log
            figures.trial(f"stop threaded run: {how}", [str(exc)])
            return
        verdict = check_stopped(run)
        if verdict is not None:
            figures.unaccounted += verdict.unaccounted()
        problems = [f"after {run.delay_s:.3f}s ({run.log}): {m}" for m in run.problems]
        figures.trial(f"stop threaded run: {how}", problems)
        if not run.problems:
            run.log.unlink()
        if (index + 1) % 25 == 0:
            print(f"  {index + 1}/{runs} threaded runs stopped", flush=True)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, range(runs)))


# -- Redis -------------------------------------------------------------------------------------

REDIS_STOPS = (
    "coordinator SIGINT",
    "coordinator SIGTERM",
    "coordinator SIGKILL",
    "worker SIGKILL",
    "Redis paused",
    "Redis restarted",
)


def redis_scenario(url: str) -> dict[str, Any]:
    """About 400 tasks over 2 wall seconds, retries and an outage; leases of 1 s."""
    return {
        "name": "rstress",
        "seed": 5,
        "clock": "real",
        "time_scale": 4,
        "workers": 2,
        "backend": url,
        "visibility_timeout": "1s",
        "retry": {
            "max_attempts": 4,
            "backoff": "exponential",
            "base_delay": "50ms",
            "max_delay": "400ms",
            "jitter": "full",
            "retry_on": ["network"],
        },
        "task_types": {
            "email": {
                "priority": 2,
                "duration": {"dist": "exponential", "mean": "20ms"},
                "failures": {"network": 0.1, "bad_input": 0.01},
                "timeout": "500ms",
            },
            "report": {
                "priority": 8,
                "duration": {"dist": "uniform", "low": "10ms", "high": "60ms"},
            },
        },
        "arrivals": [
            {"pattern": "poisson", "task": "email", "rate": 40, "until": "8s"},
            {"pattern": "burst", "task": "report", "count": 60, "at": "1s", "over": "4s"},
        ],
        "faults": [
            {"kind": "outage", "from": "2s", "until": "3s", "error": "network", "rate": 0.5}
        ],
    }


class OwnRedis:
    """A redis-server of the stress run's own, on a free port, stopped only by its pid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        """Where the lane's runs find it."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it empty (no persistence) and wait until it answers."""
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def signal(self, signum: int) -> None:
        """Send `signum` to this server alone."""
        assert self.process is not None
        self.process.send_signal(signum)

    def restart(self) -> None:
        """Kill it (SIGKILL, by pid) and start an empty one on the same port."""
        self.stop()
        self.start()

    def flush(self) -> None:
        """Forget every key (this server serves the stress run alone)."""
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        client.flushall()
        client.close()

    def stop(self) -> None:
        """Kill it by pid and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server dies all the same
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisTrial:
    """One distributed run, what was done to it, and what came of it."""

    how: str
    delay_s: float
    log: Path
    codes: dict[str, int | None] = field(default_factory=dict)
    stderr: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    verdict: Verdict | None = None


def redis_stops(figures: Figures, folder: Path, *, runs: int, lanes: int, seed: int) -> None:
    """`runs` distributed runs disturbed at random moments, on `lanes` Redis servers."""
    rng = random.Random(seed)
    plans = [(rng.choice(REDIS_STOPS), rng.uniform(0.0, 1.5)) for _ in range(runs)]
    done = [0]
    lock = threading.Lock()

    def lane(number: int) -> None:
        server = OwnRedis(Path(tempfile.mkdtemp(dir=folder, prefix="redis-")))
        try:
            scenario = folder / f"rstress-{number}.yaml"
            scenario.write_text(yaml.safe_dump(redis_scenario(server.url), sort_keys=False))
            for index in range(number, runs, lanes):
                how, delay_s = plans[index]
                log = folder / f"redis-{index:04d}.jsonl"
                trial = redis_trial(server, scenario, log, how=how, delay_s=delay_s)
                _tally(figures, trial)
                with lock:
                    done[0] += 1
                    if done[0] % 20 == 0:
                        print(f"  {done[0]}/{runs} distributed runs disturbed", flush=True)
        finally:
            server.stop()

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def redis_trial(
    server: OwnRedis, scenario: Path, log: Path, *, how: str, delay_s: float
) -> RedisTrial:
    """Start a coordinator and one `dtq worker`, disturb them as `how` says, check all."""
    trial = RedisTrial(how, delay_s, log)
    env = {**os.environ, "DTQ_REDIS_NAMESPACE": f"stress-{uuid.uuid4().hex[:10]}"}
    run = _dtq(["run", str(scenario), "--plain", "--log", str(log)], env)
    worker = _dtq(["worker", "--broker", server.url, "--concurrency", "2", "--wait", "30"], env)
    processes = {"coordinator": run, "worker": worker}
    try:
        _wait_for_log(log, run)
        time.sleep(delay_s)
        _disturb(server, processes, how)
        for name, process in processes.items():
            trial.codes[name], trial.stderr[name] = _reap(process, name, trial.problems)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        if how == "Redis paused":
            server.signal(signal.SIGCONT)
        server.flush()
    _check_redis_trial(trial)
    return trial


def _dtq(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dtq", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_log(log: Path, run: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not (log.exists() and log.stat().st_size > 0):
        if run.poll() is not None or time.monotonic() > deadline:
            return  # judged later: a coordinator that never logged is a problem there
        time.sleep(0.01)


def _disturb(server: OwnRedis, processes: dict[str, subprocess.Popen[str]], how: str) -> None:
    if how.startswith("coordinator"):
        processes["coordinator"].send_signal(getattr(signal, how.split()[1]))
    elif how == "worker SIGKILL":
        processes["worker"].send_signal(signal.SIGKILL)
    elif how == "Redis paused":
        server.signal(signal.SIGSTOP)
        time.sleep(random.uniform(0.2, 3.0))
        server.signal(signal.SIGCONT)
    elif how == "Redis restarted":
        server.restart()


def _reap(process: subprocess.Popen[str], name: str, problems: list[str]) -> tuple[int | None, str]:
    """Its exit code and stderr; a problem if it did not end within WAIT_S."""
    try:
        _, err = process.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate(timeout=30)
        problems.append(f"the {name} was still running {WAIT_S:.0f}s later (killed)")
        return None, err
    return process.returncode, err


def _check_redis_trial(trial: RedisTrial) -> None:
    """What each kind of disturbance must leave: a log that verifies, the documented exits."""
    for name, err in trial.stderr.items():
        if "Traceback" in err:
            trial.problems.append(f"a traceback from the {name}:\n{err[-2000:]}")
    try:
        verdict = trial.verdict = verify_log(trial.log)
    except LogFormatError as exc:
        trial.problems.append(f"unreadable log: {exc}")
        return
    if verdict.violation_count:
        trial.problems.append("corrupt log:\n" + "\n".join(verdict_lines(verdict)))
    trial.problems.extend(_exit_problems(trial, verdict))


def _exit_problems(trial: RedisTrial, verdict: Verdict) -> list[str]:
    """The exit codes and final status each disturbance allows."""
    run, worker = trial.codes.get("coordinator"), trial.codes.get("worker")
    status = verdict.status
    if trial.how == "coordinator SIGKILL":
        ok = run == -signal.SIGKILL or (run == 0 and status == "completed")
        ok = ok and (worker is None or worker != 0 or status == "completed")
    elif trial.how.startswith("coordinator"):
        ok = (run, status) in ((130, "interrupted"), (0, "completed"), (130, "completed"))
    elif trial.how == "worker SIGKILL":
        ok = run == 0 and status == "completed" and verdict.pending == 0
    else:  # Redis paused or restarted: ridden out, or failed cleanly
        ok = (run, status) in ((0, "completed"), (1, "failed"))
        ok = ok and (worker == 0) == (status == "completed")
    if ok:
        return []
    return [f"coordinator exit {run}, worker exit {worker}, log status {status}"]


def _tally(figures: Figures, trial: RedisTrial) -> None:
    if trial.verdict is not None:
        figures.unaccounted += trial.verdict.unaccounted()
    where = f"after {trial.delay_s:.3f}s ({trial.log})"
    figures.trial(f"stop Redis run: {trial.how}", [f"{where}: {m}" for m in trial.problems])
    if not trial.problems:
        trial.log.unlink(missing_ok=True)
