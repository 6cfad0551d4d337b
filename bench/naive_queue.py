"""The two hand-written peers of row 2: a naive heapq runner and a ThreadPoolExecutor.

Both write the same three events per task that dtq writes (`task_submitted`,
`task_started`, `task_succeeded`, with the same fields and a gapless `seq`), one orjson
line each into a buffered file, so that every runner pays for the same log.
"""

from __future__ import annotations

import heapq
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import orjson

_LINE = orjson.OPT_APPEND_NEWLINE
# Tasks pushed per lock hold, as dtq's clock thread does with a burst.
_CHUNK = 2000
TYPE = "noop"
PRIORITY = 5


class _Log:
    """Numbered JSON lines into a buffered file; the caller holds the lock."""

    def __init__(self, file: IO[bytes]) -> None:
        self._write = file.write
        self._t0 = time.perf_counter()
        self.seq = 0

    def now(self) -> float:
        """Seconds since the log opened, to the microsecond."""
        return round(time.perf_counter() - self._t0, 6)

    def write(self, event: dict[str, Any]) -> None:
        """Number and write one event."""
        self.seq += 1
        event["seq"] = self.seq
        self._write(orjson.dumps(event, option=_LINE))

    def submitted(self, task_id: str) -> float:
        """Log a submission; returns its time."""
        t = self.now()
        self.write(
            {
                "seq": 0,
                "t": t,
                "event": "task_submitted",
                "task_id": task_id,
                "type": TYPE,
                "priority": PRIORITY,
            }
        )
        return t

    def started(self, task_id: str, worker: str, ready_t: float) -> float:
        """Log an attempt's start; returns its time."""
        t = self.now()
        self.write(
            {
                "seq": 0,
                "t": t,
                "event": "task_started",
                "task_id": task_id,
                "type": TYPE,
                "priority": PRIORITY,
                "attempt": 1,
                "worker": worker,
                "wait_s": round(t - ready_t, 6),
            }
        )
        return t

    def succeeded(self, task_id: str, worker: str, started_t: float) -> None:
        """Log an attempt's success."""
        t = self.now()
        self.write(
            {
                "seq": 0,
                "t": t,
                "event": "task_succeeded",
                "task_id": task_id,
                "type": TYPE,
                "priority": PRIORITY,
                "attempt": 1,
                "worker": worker,
                "run_s": round(t - started_t, 6),
            }
        )


def task_ids(count: int) -> list[str]:
    """The ids dtq gives a burst of `count` tasks of type noop."""
    return [f"{TYPE}-{n:06d}" for n in range(1, count + 1)]


def run_naive(count: int, *, workers: int, log_path: Path) -> int:
    """heapq + threading.Condition: the obvious priority runner; returns tasks done."""
    heap: list[tuple[int, int, str, float]] = []
    cond = threading.Condition()
    done = [0]
    closed = [False]
    with log_path.open("wb") as file:
        log = _Log(file)

        def serve(worker: str) -> None:
            finished: tuple[str, float] | None = None
            while True:
                with cond:
                    # One lock hold ends the last task and takes the next, as dtq does.
                    if finished is not None:
                        log.succeeded(finished[0], worker, finished[1])
                        done[0] += 1
                    while not heap:
                        if closed[0]:
                            return
                        cond.wait()
                    _, _, task_id, ready_t = heapq.heappop(heap)
                    finished = (task_id, log.started(task_id, worker, ready_t))
                # The task itself is a no-op, run outside the lock.

        threads = [
            threading.Thread(target=serve, args=(f"w{i + 1:02d}",), daemon=True)
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        ids = task_ids(count)
        for start in range(0, count, _CHUNK):
            with cond:
                for seq in range(start, min(count, start + _CHUNK)):
                    task_id = ids[seq]
                    heapq.heappush(heap, (PRIORITY, seq, task_id, log.submitted(task_id)))
                cond.notify(_CHUNK)
        with cond:
            closed[0] = True
            cond.notify_all()
        for thread in threads:
            thread.join(timeout=600)
    return done[0]


def run_executor(count: int, *, workers: int, log_path: Path) -> int:
    """concurrent.futures.ThreadPoolExecutor: one submitted callable per task."""
    lock = threading.Lock()
    done = [0]
    with log_path.open("wb") as file:
        log = _Log(file)

        def job(task_id: str, ready_t: float) -> None:
            worker = threading.current_thread().name
            with lock:
                started_t = log.started(task_id, worker, ready_t)
            # The task itself is a no-op, run outside the lock.
            with lock:
                log.succeeded(task_id, worker, started_t)
                done[0] += 1

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="w") as pool:
            for task_id in task_ids(count):
                with lock:
                    ready_t = log.submitted(task_id)
                pool.submit(job, task_id, ready_t)
    return done[0]
