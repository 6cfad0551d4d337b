"""Ctrl-C during a sweep: workers stop, finished points are printed, exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dtq.study.execute import local_pool, start_method
from tests.helpers import ROOT
from tests.study.conftest import BIN, wait_until


@pytest.mark.slow
@pytest.mark.parametrize(("jobs", "to_group"), [("1", False), ("2", False), ("2", True)])
def test_ctrl_c_prints_the_finished_points_and_exits_130(
    small: Path, tmp_path: Path, jobs: str, to_group: bool
) -> None:
    """SIGINT to the sweep alone, or to its whole process group as a terminal's Ctrl-C."""
    out = tmp_path / "logs"
    # Eight points of one seed each, about 12,000 tasks apiece: long enough (a few tenths
    # of a second a run on an idle machine) that the stop lands before the last point.
    args = [
        str(BIN / "dtq"),
        "sweep",
        str(small),
        "--set",
        "workers=1,2,3,4,5,6,7,8",
        "--set",
        "arrivals.0.rate=400",
        "--set",
        "arrivals.0.until=30s",
        "--seeds",
        "1",
        "--jobs",
        jobs,
        "--quiet",
        "--format",
        "markdown",
        "--out",
        str(out),
    ]
    sweep = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        # A log appears when its run starts, and at most `jobs` run at once: with
        # jobs + 2 logs, at least two points have finished.
        wait_until(lambda: out.is_dir() and len(list(out.iterdir())) >= int(jobs) + 2)
        if to_group:
            os.killpg(sweep.pid, signal.SIGINT)
        else:
            sweep.send_signal(signal.SIGINT)
        stdout, stderr = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait(timeout=30)
    assert sweep.returncode == 130, stderr
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) >= 2
    assert "points did not finish" in stdout
    assert "Traceback" not in stderr, stderr


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_local_pool_knows_the_pid_of_each_of_its_workers(method: str) -> None:
    pool = local_pool(2, method=method)
    try:
        assert pool.method == method
        ran_on = {pool.submit(os.getpid).result(timeout=60) for _ in range(8)}
        pids = pool.worker_pids()
        assert len(pids) == 2 and ran_on <= pids and os.getpid() not in pids
    finally:
        pool.shutdown(wait=True)


def test_workers_are_forked_only_while_this_process_runs_one_thread() -> None:
    """A fork copies locks other threads may hold: with a second thread, spawn."""
    if threading.active_count() == 1:
        assert start_method() == ("fork" if sys.platform.startswith("linux") else "spawn")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        release.set()
        other.join(timeout=10)


def _sigterm_handler() -> str:
    handler = signal.getsignal(signal.SIGTERM)
    return "default" if handler == signal.SIG_DFL else repr(handler)


def test_a_forked_worker_dies_of_sigterm_not_of_this_process_s_handler() -> None:
    """The sweep's SIGTERM handler only asks for a stop: a worker must not inherit it."""
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        pool = local_pool(1, method="fork")
        try:
            assert pool.submit(_sigterm_handler).result(timeout=60) == "default"
        finally:
            pool.shutdown(wait=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_for_a_stop(ready: str) -> str:
    """In a worker: take SIGINT as a run does, say so in `ready`, then wait for it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    Path(ready).write_text("waiting", encoding="utf-8")
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        return "stopped"
    return "not stopped"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_interrupt_reaches_the_run_in_each_worker(tmp_path: Path, method: str) -> None:
    pool = local_pool(2, method=method)
    try:
        ready = [tmp_path / "a", tmp_path / "b"]
        futures = [pool.submit(_wait_for_a_stop, str(path)) for path in ready]
        wait_until(lambda: all(path.exists() for path in ready))
        pool.interrupt()
        assert [future.result(timeout=60) for future in futures] == ["stopped", "stopped"]
    finally:
        pool.shutdown(wait=True)
