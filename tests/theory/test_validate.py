"""The virtual-clock engine against M/M/c queueing theory, through real scenario files.

Each model is written as a scenario (poisson arrivals, exponential durations, no
failures), loaded, run on the virtual clock and folded from its log, so these tests also
show that a scenario means what it says. Every run is long enough for batch means to be
valid (`QueueModel.min_tasks`), and every check is `dtq.theory.validate`'s rule: within
`SIGMAS` batch-means standard errors of the theory, nothing picked by hand.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from dtq.theory.stats import student_t_quantile
from dtq.theory.validate import (
    DEFAULT_BATCHES,
    SIGMAS,
    Measurement,
    QueueModel,
    Row,
    batch_means,
    cobham_waits,
    erlang_c,
    little_row,
    main,
    measure_model,
    mmc_wait,
    reduction_row,
    wait_rows,
)

SEED = 1
BATCHES = DEFAULT_BATCHES
MM2_FIFO = QueueModel(2, 1.0, (1.6,), "fifo")
MM4_FIFO = QueueModel(4, 1.0, (2.0,), "fifo")
MM2_PRIORITY = QueueModel(2, 1.0, (0.32, 1.28), "priority")


def _erlang_c_exact(c: int, a: int) -> Fraction:
    """The textbook sum, in exact rational arithmetic."""
    term = Fraction(a**c, math.factorial(c)) * Fraction(c, c - a)
    below = sum(Fraction(a**k, math.factorial(k)) for k in range(c))
    return term / (below + term)


TASKS = 80_000
"""Tasks per run: 4 SE is then about 10% of the M/M/2 wait at rho 0.8, so a service time
5% off (waits 35% off) fails every wait check; a run takes about a second."""


def _measure(model: QueueModel, folder: Path, *, tasks: int = TASKS) -> Measurement:
    assert model.min_tasks(batches=BATCHES) <= tasks, "too few tasks for valid batch means"
    return measure_model(model, seed=SEED, tasks=tasks, folder=folder)


@pytest.fixture(scope="module")
def mm2(tmp_path_factory: pytest.TempPathFactory) -> Measurement:
    """M/M/2 at rho 0.8, FIFO."""
    return _measure(MM2_FIFO, tmp_path_factory.mktemp("mm2"))


@pytest.fixture(scope="module")
def mm4(tmp_path_factory: pytest.TempPathFactory) -> Measurement:
    """M/M/4 at rho 0.5, FIFO (short memory: a quarter of the tasks is plenty)."""
    return _measure(MM4_FIFO, tmp_path_factory.mktemp("mm4"), tasks=TASKS // 4)


@pytest.fixture(scope="module")
def priority(tmp_path_factory: pytest.TempPathFactory) -> Measurement:
    """M/M/2 at rho 0.8 with two priority classes."""
    return _measure(MM2_PRIORITY, tmp_path_factory.mktemp("priority"))


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Measurement:
    """The priority model's workload under FIFO, same seed: the same tasks."""
    return _measure(MM2_PRIORITY.fifo_twin(), tmp_path_factory.mktemp("twin"))


def _assert_passed(row: Row) -> None:
    assert row.passed, (
        f"{row.policy} c={row.servers} {row.quantity}: simulated {row.simulated:.4f}, "
        f"theory {row.theory:.4f}, allowed ±{row.tolerance:.4f}"
    )


# -- formulas -------------------------------------------------------------------------


def test_erlang_c_matches_the_known_value_for_two_servers() -> None:
    """C(2, 1.6) = 32/45: the probability of waiting in M/M/2 at 80% load."""
    assert erlang_c(2, 1.6) == pytest.approx(32 / 45, rel=1e-12)


@pytest.mark.parametrize("a", [0.1, 0.5, 0.9, 0.99])
def test_erlang_c_with_one_server_is_the_utilisation(a: float) -> None:
    """In M/M/1 an arrival waits exactly when the server is busy: C(1, a) = rho."""
    assert erlang_c(1, a) == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize(("c", "a"), [(3, 2), (10, 8), (50, 45), (300, 290)])
def test_erlang_c_matches_exact_arithmetic_even_with_hundreds_of_servers(c: int, a: int) -> None:
    """The stable recursion agrees with the textbook formula computed exactly."""
    assert erlang_c(c, a) == pytest.approx(float(_erlang_c_exact(c, a)), rel=1e-9)


@pytest.mark.parametrize(("c", "a"), [(2, 2.0), (2, 3.0), (0, 0.5), (1, -0.1)])
def test_erlang_c_refuses_an_unstable_or_empty_queue(c: int, a: float) -> None:
    """No steady state when a >= c (or without servers): an error, not a number."""
    with pytest.raises(ValueError, match=r"M/M/c|stable"):
        erlang_c(c, a)


def test_mm1_wait_is_rho_over_mu_minus_lambda() -> None:
    """M/M/1: Wq = rho / (mu - lambda)."""
    assert mmc_wait(0.8, 1.0, 1) == pytest.approx(0.8 / 0.2, rel=1e-12)


@pytest.mark.parametrize("c", [1, 2, 7])
def test_cobham_with_one_class_is_erlang_c_fifo(c: int) -> None:
    """One class: Cobham's formula reduces to the M/M/c FIFO wait."""
    lam = 0.85 * c
    assert cobham_waits([lam], 1.0, c) == pytest.approx([mmc_wait(lam, 1.0, c)], rel=1e-12)


def test_cobham_classes_average_to_the_fifo_wait() -> None:
    """Conservation law: with equal service rates, priority only reshuffles the waiting."""
    lams = [0.5, 1.1, 1.9]
    waits = cobham_waits(lams, 1.0, 4)
    average = sum(lam * w for lam, w in zip(lams, waits, strict=True)) / sum(lams)
    assert average == pytest.approx(mmc_wait(sum(lams), 1.0, 4), rel=1e-12)
    assert waits == sorted(waits)


def test_student_t_quantile_matches_tables() -> None:
    """t(0.975) for 24 and 9 degrees of freedom, from the printed tables."""
    assert student_t_quantile(0.975, 24) == pytest.approx(2.0639, abs=5e-4)
    assert student_t_quantile(0.975, 9) == pytest.approx(2.2622, abs=5e-3)


def test_batch_means_error_is_the_spread_of_the_batch_means() -> None:
    """Batches of constants 0, 1, 2, 3: the error is stdev(0..3) / sqrt(4)."""
    values = [float(b) for b in range(4) for _ in range(10)]
    estimate = batch_means(values, batches=4)
    assert estimate.mean == pytest.approx(1.5)
    assert estimate.se == pytest.approx(math.sqrt(5 / 3) / 2)


def test_batch_means_refuses_too_few_values() -> None:
    """Fewer than two values per batch cannot give an error estimate."""
    with pytest.raises(ValueError, match="at least 2 batches"):
        batch_means([1.0, 2.0, 3.0], batches=2)


def test_batches_must_outlast_the_queue_memory() -> None:
    """Near saturation the queue remembers longer, so batch means need more tasks."""
    calm, busy = QueueModel(2, 1.0, (1.0,), "fifo"), QueueModel(2, 1.0, (1.8,), "fifo")
    assert busy.min_tasks(batches=BATCHES) > 20 * calm.min_tasks(batches=BATCHES)


def test_the_model_is_written_as_a_plain_scenario() -> None:
    """The scenario text names the workers, the policy, the rates and the mean duration."""
    text = MM2_PRIORITY.scenario_text(seed=9, tasks=1000)
    assert "workers: 2" in text and "policy: priority" in text and "clock: virtual" in text
    assert "rate: 0.32" in text and "rate: 1.28" in text and "mean: 1s" in text


# -- simulation against theory ---------------------------------------------------------


@pytest.mark.slow
def test_mm2_fifo_at_80_percent_load_waits_as_erlang_c_says(mm2: Measurement) -> None:
    """M/M/2, rho 0.8, FIFO: the mean queue wait is Erlang C's within the run's noise."""
    [row] = wait_rows(mm2, batches=BATCHES)
    _assert_passed(row)


@pytest.mark.slow
def test_mm4_fifo_at_half_load_waits_as_erlang_c_says(mm4: Measurement) -> None:
    """M/M/4, rho 0.5, FIFO: the mean queue wait is Erlang C's within the run's noise."""
    [row] = wait_rows(mm4, batches=BATCHES)
    _assert_passed(row)


@pytest.mark.slow
def test_two_priority_classes_wait_as_cobham_says(priority: Measurement) -> None:
    """M/M/2, rho 0.8, P1 20% of the load: each class's wait is Cobham's."""
    rows = wait_rows(priority, batches=BATCHES)
    assert [row.quantity for row in rows] == ["Wq P1", "Wq P2"]
    for row in rows:
        _assert_passed(row)


@pytest.mark.slow
def test_the_checks_tell_priority_from_fifo(priority: Measurement) -> None:
    """The tolerance is tight enough to matter: P1 under priority does not pass as FIFO."""
    p1 = batch_means(priority.waits[1], batches=BATCHES)
    fifo_wait = mmc_wait(MM2_PRIORITY.rate, 1.0, 2)
    assert abs(p1.mean - fifo_wait) > 3 * SIGMAS * p1.se


@pytest.mark.slow
def test_littles_law_holds_on_every_run(
    mm2: Measurement, mm4: Measurement, priority: Measurement
) -> None:
    """Time-average number in queue = arrival rate x mean wait, within the count noise."""
    for measurement in (mm2, mm4, priority):
        _assert_passed(little_row(measurement))


@pytest.mark.slow
def test_littles_law_holds_exactly_path_by_path(
    mm2: Measurement, mm4: Measurement, priority: Measurement
) -> None:
    """Queue area from submitted/started times equals the logged waits plus the edge terms."""
    for m in (mm2, mm4, priority):
        waits = m.all_waits()
        measured_rate = len(waits) / m.window_s
        expected = measured_rate * math.fsum(waits) / len(waits) + m.edge
        # Waits are logged to the microsecond: each adds at most 0.5us of rounding.
        assert m.queue_avg == pytest.approx(expected, abs=measured_rate * 1e-6)


@pytest.mark.slow
def test_priority_cuts_the_p1_wait_by_what_theory_predicts(
    priority: Measurement, twin: Measurement
) -> None:
    """FIFO -> priority on the same tasks: P1's wait drops by Erlang C minus Cobham P1."""
    row = reduction_row(twin, priority, batches=BATCHES)
    _assert_passed(row)
    assert row.theory > 0.6 * mmc_wait(MM2_PRIORITY.rate, 1.0, 2)


def test_validate_refuses_runs_too_short_for_batch_means(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m dtq.theory --tasks 1000`: a usage error that says how many tasks it needs."""
    with pytest.raises(SystemExit) as stop:
        main(["--tasks", "1000"])
    assert stop.value.code == 2
    assert "--tasks 1000 is too few" in capsys.readouterr().err
