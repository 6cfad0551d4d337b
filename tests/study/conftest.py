"""A small scenario for sweeps, and a real Dask cluster on 127.0.0.1 for the cluster tests.

The cluster is one `dask scheduler` and two `dask worker` processes (no nanny, so a
killed worker stays dead) on ports of their own, stopped by pid. Without the
`distributed` package the cluster tests skip, except under CI=true, where they fail:
CI must run them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

SMALL = """\
name: small
seed: 1
clock: virtual
workers: 3
retry: {max_attempts: 3, backoff: exponential, base_delay: 100ms, max_delay: 1s,
        jitter: full, retry_on: [network]}
task_types:
  pay:  {priority: 1, duration: {dist: exponential, mean: 20ms}, failures: {network: 0.02}}
  mail: {priority: 4, duration: {dist: uniform, low: 5ms, high: 15ms},
         failures: {bad_input: 0.01}}
arrivals:
  - {pattern: poisson, task: pay, rate: 60, from: 0s, until: 6s}
  - {pattern: constant, task: mail, rate: 40, from: 0s, until: 6s}
faults:
  - {kind: outage, from: 2s, until: 3s, error: network, rate: 0.9, tasks: [pay]}
expect:
  dlq_max: 25
"""

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0


def is_ci() -> bool:
    """Whether this is a CI run, where nothing may be skipped."""
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A scenario of about 600 tasks with an outage, that runs in a fraction of a second."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def dtq(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the dtq command line in a subprocess."""
    return subprocess.run(
        [str(BIN / "dtq"), *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A running Dask cluster: the scheduler's address and the worker processes."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    client = Client(address, timeout=START_TIMEOUT_S)  # type: ignore[no-untyped-call]
    try:
        client.wait_for_workers(count, timeout=START_TIMEOUT_S)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A scheduler and two single-threaded workers on 127.0.0.1, stopped by pid after."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        if is_ci():
            pytest.fail(f"CI runs the Dask cluster tests, but distributed is missing: {exc}")
        pytest.skip("the distributed package is not installed: pip install -e '.[dev]'")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "dask.log").open("wb")
    common = {"stdout": logs, "stderr": subprocess.STDOUT, "cwd": ROOT}
    scheduler = subprocess.Popen(
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        **common,  # type: ignore[call-overload]
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(2):
            workers.append(
                subprocess.Popen(
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"dtq-test-{number}",
                        "--death-timeout",
                        "60",
                    ],
                    **common,  # type: ignore[call-overload]
                )
            )
        _wait_for_workers(address, 2)
        yield Cluster(address, scheduler, workers)
    finally:
        for process in [*workers, scheduler]:
            _stop(process)
        logs.close()


def wait_until(condition: object, *, timeout_s: float = 120.0) -> None:
    """Poll `condition()` every 50 ms until it is true; fail after `timeout_s`."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {condition}")
        time.sleep(0.05)
