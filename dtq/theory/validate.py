"""Queueing theory to check the virtual-clock engine against, and `python -m dtq.theory`.

The formulas are exact for M/M/c queues: Poisson arrivals, exponential service at rate
`mu` on each of `c` servers, no failures. `python -m dtq.theory` (what `make theory`
runs) writes each model as a scenario file, runs it on the virtual clock, folds the
event log with the one reducer and prints simulated against theoretical values.

How a simulated mean is judged (the same rule in the test suite):

- Warm-up: a run starts empty, which is not the steady state the formulas describe, so
  tasks arriving in the first `WARMUP_FRACTION` of the arrival window are left out.
- Noise: the waits of successive tasks are correlated (strongly near saturation), so the
  standard error comes from batch means: the kept waits, in arrival order, are cut into
  `batches` consecutive batches whose means are close to independent when a batch is
  much longer than the queue's memory.
- Tolerance: |simulated - theory| <= `SIGMAS` x standard error + `ROUNDING_S` (the log
  keeps waits to the microsecond). Nothing else: no percentage picked to make it pass.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from dtq.durations import format_duration
from dtq.engine import runner
from dtq.errors import DtqError, SchedulerFault
from dtq.events import STATUS_COMPLETED, TASK_STARTED
from dtq.fold.state import RunState
from dtq.log.reader import iter_events
from dtq.scenario import load_scenario
from dtq.theory.stats import student_t_quantile

WARMUP_FRACTION = 0.05
"""Share of the arrival window (so, of the tasks in arrival order) left out as warm-up."""
SIGMAS = 4.0
"""How many standard errors a simulated mean may stray from theory before a check fails.

Waits are skewed, so a run with few long queues has both a low mean and a low standard
error: measured over 600 independent M/M/2 runs at rho 0.8, |error| > 4 SE happened 0.3%
of the time (a Student t would say 0.05%)."""
ROUNDING_S = 1e-6
"""Waits are logged rounded to the microsecond: a mean can be off by half of this."""
DEFAULT_BATCHES = 25
MIN_BATCH_RELAXATIONS = 10
"""A batch must span this many relaxation times for its mean to be nearly independent."""


# -- formulas ---------------------------------------------------------------------


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load `a` = lambda/mu < c.

    Computed through the Erlang B recursion B(k) = a B(k-1) / (k + a B(k-1)), which
    stays within [0, 1] at every step, so it is stable for hundreds of servers.
    """
    if c < 1:
        raise ValueError(f"an M/M/c queue needs at least one server (got c={c})")
    if not 0.0 <= a < c:
        raise ValueError(f"the queue is stable only for 0 <= a < c (got a={a:g}, c={c})")
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    rho = a / c
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc_wait(lam: float, mu: float, c: int) -> float:
    """Mean queue wait Wq of M/M/c under FIFO: C(c, lam/mu) / (c mu - lam)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def cobham_waits(lams: Sequence[float], mu: float, c: int) -> list[float]:
    """Mean queue wait of each class of a non-preemptive priority M/M/c (Cobham's formula).

    `lams` are the classes' arrival rates, highest priority first; every class is served
    at rate `mu`. With sigma_k the load of classes 1..k, Wq_k = W0 / ((1 - sigma_(k-1))
    (1 - sigma_k)) where W0 = C(c, lambda/mu) / (c mu).
    """
    w0 = erlang_c(c, sum(lams) / mu) / (c * mu)
    waits: list[float] = []
    above = 0.0
    for lam in lams:
        upto = above + lam / (c * mu)
        waits.append(w0 / ((1.0 - above) * (1.0 - upto)))
        above = upto
    return waits


# -- statistics ---------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A mean with its batch-means standard error."""

    mean: float
    se: float
    batches: int

    def half_width(self, confidence: float = 0.95) -> float:
        """Half-width of the confidence interval (Student's t on batches - 1 dof)."""
        return student_t_quantile(0.5 + confidence / 2, self.batches - 1) * self.se


def batch_means(values: Sequence[float], *, batches: int = DEFAULT_BATCHES) -> Estimate:
    """The mean of `values` (in arrival order) and its standard error from batch means."""
    n = len(values)
    if batches < 2 or n < 2 * batches:
        raise ValueError(f"batch means need at least 2 batches of 2 values (got {n} values)")
    bounds = [n * i // batches for i in range(batches + 1)]
    means = [math.fsum(values[lo:hi]) / (hi - lo) for lo, hi in itertools.pairwise(bounds)]
    return Estimate(
        mean=math.fsum(values) / n,
        se=statistics.stdev(means) / math.sqrt(batches),
        batches=batches,
    )


# -- models as scenarios ----------------------------------------------------------


@dataclass(frozen=True)
class QueueModel:
    """An M/M/c queue: `servers`, service rate `mu`, Poisson classes P1, P2 ... in order."""

    servers: int
    mu: float
    rates: tuple[float, ...]
    policy: str

    @property
    def rate(self) -> float:
        """Total arrival rate lambda."""
        return math.fsum(self.rates)

    @property
    def rho(self) -> float:
        """Server utilisation lambda / (c mu)."""
        return self.rate / (self.servers * self.mu)

    @property
    def label(self) -> str:
        """A short name for messages: `M/M/2 priority`."""
        return f"M/M/{self.servers} {self.policy}"

    @property
    def name(self) -> str:
        """The scenario's name: `mm2-priority-2` (servers, policy, classes)."""
        return f"mm{self.servers}-{self.policy}-{len(self.rates)}"

    def theory_waits(self) -> list[float]:
        """Mean queue wait of each class (all equal under FIFO)."""
        if self.policy == "fifo":
            return [mmc_wait(self.rate, self.mu, self.servers)] * len(self.rates)
        return cobham_waits(self.rates, self.mu, self.servers)

    def relaxation_time_s(self) -> float:
        """How long the queue remembers its past: 1 / (c mu (1 - sqrt(rho))^2).

        The heavy-traffic relaxation time of M/M/c (that of M/M/1 served at c mu); it
        grows fast near saturation, and with it the batch length that batch means need.
        """
        return 1.0 / (self.servers * self.mu * (1.0 - math.sqrt(self.rho)) ** 2)

    def min_tasks(self, *, batches: int) -> int:
        """The fewest tasks for which every kept batch spans MIN_BATCH_RELAXATIONS."""
        batch_s = MIN_BATCH_RELAXATIONS * self.relaxation_time_s()
        return math.ceil(batch_s * batches * self.rate / (1.0 - WARMUP_FRACTION))

    def arrival_window_s(self, tasks: int) -> float:
        """How long arrivals last so that `tasks` arrive on average."""
        return tasks / self.rate

    def scenario_text(self, *, seed: int, tasks: int) -> str:
        """The model as a scenario file: the same text a user would write."""
        until = f"{self.arrival_window_s(tasks):.6f}s"
        mean = format_duration(1.0 / self.mu)
        lines = [
            f"name: {self.name}",
            f"seed: {seed}",
            "clock: virtual",
            f"workers: {self.servers}",
            f"scheduler: {{policy: {self.policy}}}",
            "retry: {max_attempts: 1}",
            "task_types:",
        ]
        for p in range(1, len(self.rates) + 1):
            lines.append(
                f"  p{p}: {{priority: {p}, duration: {{dist: exponential, mean: {mean}}}}}"
            )
        lines.append("arrivals:")
        for p, lam in enumerate(self.rates, start=1):
            lines.append(
                f"  - {{pattern: poisson, task: p{p}, rate: {lam!r}, from: 0s, until: {until}}}"
            )
        return "\n".join(lines) + "\n"

    def fifo_twin(self) -> QueueModel:
        """The same classes and load under FIFO."""
        return QueueModel(self.servers, self.mu, self.rates, "fifo")


# -- measuring a run -----------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """What one run's log says, after the warm-up: waits per class and Little's law terms."""

    model: QueueModel
    waits: dict[int, array[float]]
    """Kept waits of each priority, in arrival order (FIFO within a class, one attempt)."""
    queue_avg: float
    """Time-average number of tasks in the queue over the measurement window."""
    window_s: float
    edge: float
    """Little's law edge term: (waits left at the window's start - at its end) / window."""

    def all_waits(self) -> list[float]:
        """Every kept wait, every class."""
        return [w for values in self.waits.values() for w in values]


def measure_log(path: Path, model: QueueModel, *, start_t: float, end_t: float) -> Measurement:
    """Fold a run's log and integrate its queue length over the window [start_t, end_t].

    One pass: every event goes through the reducer (`RunState.apply`); the number in
    queue between events is the reducer's `queued` count. Tasks arriving before
    `start_t` are the warm-up and are left out of the waits.
    """
    state = RunState()
    before: dict[int, int] | None = None
    area = edge = last_t = 0.0
    queued = 0
    for _, event in iter_events(path):
        t = event["t"]
        lo, hi = max(last_t, start_t), min(t, end_t)
        if hi > lo:
            area += queued * (hi - lo)
        last_t = t
        if before is None and t >= start_t:
            before = {p: counts.submitted for p, counts in state.by_priority.items()}
        state.apply(event)
        queued = sum(counts.queued for counts in state.by_priority.values())
        if event["event"] == TASK_STARTED:
            edge += _edge_share(t - event["wait_s"], t, start_t, end_t)
    skip = before or {}
    waits = {p: values[skip.get(p, 0) :] for p, values in sorted(state.waits_by_priority.items())}
    window_s = end_t - start_t
    return Measurement(model, waits, area / window_s, window_s, edge / window_s)


def _edge_share(arrived: float, started: float, start_t: float, end_t: float) -> float:
    """The part of one wait that Little's law counts on one side only.

    A task waiting across `start_t` adds its wait after start_t to the queue area but is
    not a kept task; one waiting across `end_t` is kept but adds to the area only up to
    end_t. So area = sum(kept waits) + sum(these shares), exactly.
    """
    share = 0.0
    if arrived < start_t < started:
        share += started - start_t
    if arrived < end_t < started:
        share -= started - end_t
    return share


def measure_model(model: QueueModel, *, seed: int, tasks: int, folder: Path) -> Measurement:
    """Run `model` as a scenario file on the virtual clock and measure its log."""
    scenario_path = folder / f"{model.name}.yaml"
    scenario_path.write_text(model.scenario_text(seed=seed, tasks=tasks))
    scenario = load_scenario(scenario_path)
    outcome = runner.run(scenario, log_path=folder / f"{model.name}.jsonl")
    if outcome.status != STATUS_COMPLETED:
        raise SchedulerFault(f"the {model.label} run ended {outcome.status}: {outcome.error}")
    window_s = model.arrival_window_s(tasks)
    return measure_log(outcome.log_path, model, start_t=WARMUP_FRACTION * window_s, end_t=window_s)


# -- comparisons ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One simulated quantity against its theoretical value."""

    policy: str
    servers: int
    rho: float
    quantity: str
    simulated: float
    theory: float
    se: float
    dof: int | None
    """Degrees of freedom of `se` (batches - 1); None when `se` is known exactly."""
    slack: float
    """A deterministic allowance beside the noise (rounding, Little's law edge term)."""

    @property
    def error_pct(self) -> float:
        """Relative error of the simulated value, in percent."""
        return 100.0 * (self.simulated - self.theory) / self.theory

    @property
    def half_width(self) -> float:
        """95% confidence half-width of the simulated value."""
        if self.dof is None:
            return statistics.NormalDist().inv_cdf(0.975) * self.se
        return student_t_quantile(0.975, self.dof) * self.se

    @property
    def is_within_ci(self) -> bool:
        """The theory lies inside the 95% interval (fails 1 time in 20 by chance)."""
        return abs(self.simulated - self.theory) <= self.half_width + self.slack

    @property
    def tolerance(self) -> float:
        """The allowed distance: SIGMAS standard errors plus the slack."""
        return SIGMAS * self.se + self.slack

    @property
    def passed(self) -> bool:
        """The check: within SIGMAS standard errors (plus slack) of the theory."""
        return abs(self.simulated - self.theory) <= self.tolerance


def wait_rows(measurement: Measurement, *, batches: int) -> list[Row]:
    """Mean queue wait of each class against theory (under FIFO every class waits alike).

    Batch means run over one class's waits, which are in arrival order: within a class
    tasks start first-in first-out under both policies.
    """
    model = measurement.model
    rows = []
    for p, expected in enumerate(model.theory_waits(), start=1):
        quantity = "Wq" if len(model.rates) == 1 else f"Wq P{p}"
        values = measurement.waits.get(p, array("d"))
        rows.append(
            _row(model, quantity, batch_means(values, batches=batches), expected, ROUNDING_S)
        )
    return rows


def _row(model: QueueModel, quantity: str, estimate: Estimate, theory: float, slack: float) -> Row:
    return Row(
        model.policy,
        model.servers,
        model.rho,
        quantity,
        estimate.mean,
        theory,
        estimate.se,
        estimate.batches - 1,
        slack,
    )


def little_row(measurement: Measurement) -> Row:
    """Little's law: time-average number in queue against lambda x mean wait.

    On one run, queue_avg = lambda_hat x mean wait + edge exactly, where lambda_hat is
    the number of kept arrivals over the window. Against the scenario's lambda, what
    remains is the arrival-count noise: for Poisson arrivals the count has standard
    deviation sqrt(lambda x window), so lambda_hat has sqrt(lambda / window). The measured
    edge term and the wait rounding make the slack.
    """
    model = measurement.model
    waits = measurement.all_waits()
    mean_wait = math.fsum(waits) / len(waits)
    se = mean_wait * math.sqrt(model.rate / measurement.window_s)
    slack = abs(measurement.edge) + model.rate * ROUNDING_S
    return Row(
        model.policy,
        model.servers,
        model.rho,
        "Lq = λ·Wq",
        measurement.queue_avg,
        model.rate * mean_wait,
        se,
        None,
        slack,
    )


def reduction_row(fifo: Measurement, priority: Measurement, *, batches: int) -> Row:
    """How much P1's wait drops from FIFO to priority, against Erlang C minus Cobham.

    Both runs have the same seed, so the same P1 tasks arrive at the same times with the
    same durations: the batch means are taken on the per-task difference, which cancels
    the noise the two runs share.
    """
    model = priority.model
    first, second = fifo.waits.get(1, array("d")), priority.waits.get(1, array("d"))
    if len(first) != len(second):
        raise DtqError("the FIFO and priority runs kept different P1 tasks; are the seeds equal?")
    cuts = [a - b for a, b in zip(first, second, strict=True)]
    theory = model.fifo_twin().theory_waits()[0] - model.theory_waits()[0]
    return _row(model, "P1 cut", batch_means(cuts, batches=batches), theory, ROUNDING_S)


# -- python -m dtq.theory ----------------------------------------------------------------

FIFO_MODELS = tuple(
    QueueModel(c, 1.0, (rho * c,), "fifo") for c in (2, 4) for rho in (0.5, 0.8, 0.9)
)
PRIORITY_MODELS = (
    QueueModel(2, 1.0, (0.32, 1.28), "priority"),
    QueueModel(4, 1.0, (0.72, 1.08, 1.8), "priority"),
)
ALL_MODELS = (*FIFO_MODELS, *PRIORITY_MODELS)


def validation_rows(*, seed: int, tasks: int, batches: int, folder: Path) -> list[Row]:
    """Every comparison `make theory` prints, run by run.

    Model i runs with seed `seed + i` so that the models' errors are independent; a
    priority model and its FIFO twin share one seed, so they see the same tasks.
    """
    rows: list[Row] = []
    for index, model in enumerate(FIFO_MODELS):
        measured = measure_model(model, seed=seed + index, tasks=tasks, folder=folder)
        rows += [*wait_rows(measured, batches=batches), little_row(measured)]
    for index, model in enumerate(PRIORITY_MODELS, start=len(FIFO_MODELS)):
        prio = measure_model(model, seed=seed + index, tasks=tasks, folder=folder)
        fifo = measure_model(model.fifo_twin(), seed=seed + index, tasks=tasks, folder=folder)
        rows += [*wait_rows(prio, batches=batches), little_row(prio)]
        rows += [*wait_rows(fifo, batches=batches), little_row(fifo)]
        rows.append(reduction_row(fifo, prio, batches=batches))
    return rows


def render_table(rows: Iterable[Row]) -> Table:
    """The rows as a table: simulated, theory, error, 95% CI and the check."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    headers = ("policy", "c", "rho", "quantity", "simulated", "theory", "error", "95% CI")
    for header in (*headers, "in CI", "check"):
        table.add_column(header, justify="left" if header in ("policy", "quantity") else "right")
    for row in rows:
        table.add_row(
            row.policy,
            str(row.servers),
            f"{row.rho:.2f}",
            row.quantity,
            f"{row.simulated:.4f}",
            f"{row.theory:.4f}",
            f"{row.error_pct:+.1f}%",
            f"±{row.half_width + row.slack:.4f}",
            "yes" if row.is_within_ci else "no",
            "ok" if row.passed else "FAIL",
        )
    return table


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dtq.theory",
        description="Check the virtual-clock engine against M/M/c queueing theory.",
    )
    parser.add_argument("--tasks", type=int, default=200_000, help="tasks per run")
    parser.add_argument("--seed", type=int, default=1, help="first seed (run i uses seed + i)")
    parser.add_argument("--batches", type=int, default=DEFAULT_BATCHES, help="batch means")
    args = parser.parse_args(argv)
    if args.batches < 5:
        parser.error(f"--batches must be at least 5 (got {args.batches})")
    if args.seed < 0:
        parser.error(f"--seed must be 0 or more (got {args.seed})")
    needed = max(model.min_tasks(batches=args.batches) for model in ALL_MODELS)
    if args.tasks < needed:
        parser.error(
            f"--tasks {args.tasks} is too few for {args.batches} batches at rho 0.9: each batch "
            f"must span {MIN_BATCH_RELAXATIONS} relaxation times; use --tasks {needed} or more "
            "(or fewer --batches)"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every model and print the table; exit 1 if a check fails, 2 on bad arguments."""
    args = _parse(argv)
    console = Console()
    last_seed = args.seed + len(ALL_MODELS) - 1
    console.print(
        f"seeds {args.seed}-{last_seed}, ~{args.tasks:,} tasks per run, mean service 1s, "
        f"{WARMUP_FRACTION:.0%} warm-up, {args.batches} batch means"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="dtq-theory-") as folder:
            rows = validation_rows(
                seed=args.seed, tasks=args.tasks, batches=args.batches, folder=Path(folder)
            )
    except DtqError as exc:
        print(f"dtq: {exc}", file=sys.stderr)
        return exc.exit_code
    console.print(render_table(rows))
    console.print(
        "Wq: mean queue wait in seconds (mean service time 1s). Lq = λ·Wq: time-average "
        "number in queue against the arrival rate times the mean wait (Little's law). P1 cut: "
        "P1's wait under FIFO minus under priority, same tasks. in CI: theory inside the "
        f"95% interval (misses 1 time in 20 by chance); check: within {SIGMAS:g} standard "
        "errors (a row misses about 1 time in 300 by chance; a bug misses many, at any seed)."
    )
    failed = [row for row in rows if not row.passed]
    console.print(
        f"{len(rows) - len(failed)} of {len(rows)} within {SIGMAS:g} standard errors of theory"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
