"""`dtq sweep --cluster`: a real Dask scheduler and two workers on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.study.conftest import BIN, Cluster, dtq, wait_until

GRID = ["--set", "workers=2,4", "--set", "retry.max_attempts=2,4"]


def _sweep_json(small: Path, *extra: str) -> dict[str, object]:
    result = dtq("sweep", str(small), *GRID, "--format", "json", "--quiet", *extra)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.slow
def test_a_cluster_gives_the_same_table_as_local_processes(small: Path, cluster: Cluster) -> None:
    on_cluster = _sweep_json(small, "--seeds", "3", "--cluster", cluster.address)
    assert on_cluster == _sweep_json(small, "--seeds", "3", "--jobs", "1")
    assert on_cluster["unfinished_points"] == 0


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_costs_only_its_runs(
    small: Path, cluster: Cluster, tmp_path: Path
) -> None:
    """The scheduler gives the dead worker's runs to the other: the table is complete."""
    out = tmp_path / "logs"
    args = [
        str(BIN / "dtq"),
        "sweep",
        str(small),
        *GRID,
        "--seeds",
        "1..6",
        "--quiet",
        "--format",
        "json",
        "--cluster",
        cluster.address,
        "--out",
        str(out),
    ]
    sweep = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: out.is_dir() and len(list(out.iterdir())) >= 4)
        victim = cluster.workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        stdout, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait(timeout=30)
    assert sweep.returncode in (0, 1), stderr
    data = json.loads(stdout)
    assert data["unfinished_points"] == 0
    assert all(point["seeds_run"] == 6 and not point["failures"] for point in data["points"])
    assert len(list(out.iterdir())) == 4 * 6
    alone = _sweep_json(small, "--jobs", "2", "--seeds", "1..6")
    assert data["points"] == alone["points"]


@pytest.mark.slow
def test_an_unreachable_cluster_is_bad_input(small: Path) -> None:
    from tests.study.conftest import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    result = dtq("sweep", str(small), "--seeds", "2", "--quiet", "--cluster", address)
    assert result.returncode == 2
    assert f"--cluster {address}: cannot reach a Dask scheduler" in result.stderr
