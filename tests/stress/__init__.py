"""`make stress`: try to break dtq's promises on purpose, and count what held.

    python -m tests.stress [--runs N] [--redis-runs N] [--fuzz N] [--logs N] [--shared N]
                           [--memory-events N] [--big N] [--big-virtual N] [--parallel N]

Each part is a kind of trial; every trial either keeps every promise (survived) or is
counted as lost with what broke:

- stops: `dtq run` processes on the threaded engine stopped at random moments (SIGINT,
  SIGTERM, SIGKILL, two SIGINTs); on Redis, the coordinator stopped the same ways, a
  `dtq worker` killed, Redis paused or killed and restarted empty (a Redis of the
  stress run's own on another port, killed by its pid). Every log must verify.
- fuzz: broken scenario files through `dtq validate` (and a virtual run of those that
  pass), damaged logs through verify, report and replay: no traceback, documented exits.
- shared logs: several runs at once on one `--log`, and on one default log name.
- memory: every reading command on logs of up to 100,000 events, some with huge `t`,
  must peak under 300 MB.
- big runs: hundreds of thousands of tasks through crashes and an outage, nothing lost.

Exits 0 only when every trial survived and no task went unaccounted.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

from dtq.cli import main

SHOWN = 5
"""Problems printed of each kind of trial (all are counted)."""


@dataclass
class Tally:
    """Trials of one kind: how many were tried and how many kept every promise."""

    tried: int = 0
    survived: int = 0

    @property
    def lost(self) -> int:
        """Trials that broke a promise."""
        return self.tried - self.survived


@dataclass
class Figures:
    """What the stress run counted; `ok` says whether every promise held."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    unaccounted: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every trial survived and no task was unaccounted."""
        return not self.unaccounted and all(t.lost == 0 for t in self.tallies.values())

    def trial(self, kind: str, problems: list[str]) -> None:
        """Count one trial of `kind`; it survived when it has no problems."""
        tally = self.tallies.setdefault(kind, Tally())
        tally.tried += 1
        if not problems:
            tally.survived += 1
            return
        if tally.lost <= SHOWN:
            for message in problems:
                self.problems.append(f"{kind}: {message}")
                print(f"  problem: {kind}: {message}", flush=True)

    def total(self, prefix: str) -> Tally:
        """The sum of every kind whose name starts with `prefix`."""
        chosen = [t for kind, t in self.tallies.items() if kind.startswith(prefix)]
        return Tally(sum(t.tried for t in chosen), sum(t.survived for t in chosen))


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Capture what a command prints (checked for tracebacks and message shapes)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield sink


def run_cli(args: list[str], codes: frozenset[int]) -> tuple[int | None, str, list[str]]:
    """`dtq ARGS` in-process: its exit code, what it printed, and what broke a promise
    (an escaping exception is a traceback a user would have seen)."""
    try:
        with quiet() as printed:
            code = main(args)
    except BaseException as exc:  # what a user would have seen as a traceback
        last = traceback.format_exception(exc)[-1].strip()
        return None, "", [f"traceback from dtq {' '.join(args)}: {last}"]
    text = printed.getvalue()
    problems = [] if code in codes else [f"dtq {' '.join(args)} exited {code}: {text[-300:]}"]
    if "Traceback" in text:
        problems.append(f"dtq {' '.join(args)} printed a traceback")
    return code, text, problems
