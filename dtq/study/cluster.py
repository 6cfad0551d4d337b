"""`--cluster tcp://HOST:8786`: run a sweep's runs on an existing Dask cluster.

Dask (the `distributed` package, installed with `pip install 'dtq[cluster]'`) brings the
scheduler, the workers on any number of machines, and the recovery when a worker dies:
its runs are given to another worker. dtq only submits its plain `run_job` calls
through the client's `concurrent.futures` executor, exactly as it does to local
processes, so the table is the same wherever the runs happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from dtq.errors import UsageError

CONNECT_TIMEOUT_S = 15


def _client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            "--cluster needs the Dask distributed package: pip install 'dtq[cluster]'"
        ) from None
    try:
        return Client(  # type: ignore[no-untyped-call]
            address, timeout=CONNECT_TIMEOUT_S, set_as_default=False
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"--cluster {address}: cannot reach a Dask scheduler there ({exc}); start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS` (docs/sweep.md)"
        ) from None


@contextmanager
def cluster_executor(address: str) -> Iterator[tuple[Executor, int]]:
    """The cluster's executor and its worker threads; the client is closed after."""
    client = _client(address)
    try:
        threads = sum(client.nthreads().values())
        if threads == 0:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            threads = sum(client.nthreads().values())
        executor: Executor = client.get_executor(pure=False)
        try:
            yield executor, max(threads, 1)
        finally:
            executor.shutdown(wait=False)
    except TimeoutError:
        raise UsageError(f"--cluster {address}: the scheduler has no workers") from None
    finally:
        client.close()
