"""`dtq replay`: final frames, time windows, broken logs, pacing, keys, and a real terminal."""

from __future__ import annotations

import itertools
import os
import select
import time
from pathlib import Path

import pytest

from dtq.cli import main
from dtq.fold.state import RunState
from dtq.render.replay import Pacer, Replayer, ReplayOptions
from tests.eventlog_factory import Event, small_log, steady_log
from tests.terminal import dtq_on_terminal


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """The small log on disk."""
    return small_log().write(tmp_path / "small.jsonl")


def summary_value(out: str, label: str) -> str:
    """The value printed after `label` on a summary line."""
    for line in out.splitlines():
        if line.strip().startswith(label + " "):
            return line.split()[-1]
    raise AssertionError(f"no {label!r} line in:\n{out}")


# -- the command line ---------------------------------------------------------------------


def test_final_plain_prints_the_totals(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(log), "--final", "--plain"]) == 0
    out = capsys.readouterr().out
    assert "completed" in out
    values = [summary_value(out, k) for k in ("submitted", "succeeded", "dead-lettered")]
    assert values == ["4", "3", "1"]


def test_until_shows_the_state_at_that_time(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(log), "--final", "--plain", "--until", "3.0"]) == 0
    out = capsys.readouterr().out
    assert [summary_value(out, k) for k in ("submitted", "succeeded", "pending")] == ["4", "2", "2"]
    assert "after 3.00s" in out


def test_start_at_jumps_to_that_time_then_paces(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["replay", str(log), "--plain", "--start-at", "2.6", "--speed", "1000"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("t=2.50s done 1/4 ")
    assert "completed" in "\n".join(lines)


def test_a_paced_plain_replay_ends_with_the_summary(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(log), "--plain", "--speed", "1000"]) == 0
    out = capsys.readouterr().out
    assert "t=5.00s done 4/4" in out
    assert summary_value(out, "succeeded") == "3"


def test_a_cut_last_line_warns_and_the_replay_goes_on(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = log.read_bytes()
    log.write_bytes(data[:-15])
    assert main(["replay", str(log), "--plain", "--speed", "1000"]) == 0
    captured = capsys.readouterr()
    assert "cut short" in captured.err
    assert "t=5.00s done 4/4" in captured.out


def test_a_corrupt_line_in_the_middle_exits_2_naming_it(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"seq": 3, "t": \n'
    log.write_bytes(b"".join(lines))
    assert main(["replay", str(log), "--final", "--plain"]) == 2
    assert f"{log}:3: not JSON" in capsys.readouterr().err


def test_a_missing_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--speed", "0"], "--speed"),
        (["--idle-limit", "-1"], "--idle-limit"),
        (["--refresh", "0"], "--refresh"),
        (["--start-at", "3", "--until", "2"], "--until"),
    ],
)
def test_impossible_flags_exit_2(
    log: Path, capsys: pytest.CaptureFixture[str], flags: list[str], problem: str
) -> None:
    assert main(["replay", str(log), "--plain", *flags]) == 2
    assert problem in capsys.readouterr().err


# -- pacing with a fake clock ---------------------------------------------------------------


class FakeClock:
    """Time that moves only when a test (or a fake sleep) moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedKeys:
    """Each wait lets the requested time pass and returns the next scripted keys."""

    def __init__(self, clock: FakeClock, script: list[str], *, interactive: bool = False) -> None:
        self.clock = clock
        self.script = list(script)
        self.interactive = interactive

    def wait(self, timeout_s: float) -> str:
        """Advance the fake clock by the timeout; return the next keys (or none)."""
        self.clock.now += max(timeout_s, 0.0)
        return self.script.pop(0) if self.script else ""


class RecordingView:
    """Records each frame as (seq, paused, speed)."""

    interval_s = 0.25

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool, float]] = []
        self.closed_at: int | None = None
        self.end_frames = 0

    def show(self, state: RunState, *, paused: bool, speed: float, at_end: bool = False) -> None:
        """Record the frame."""
        self.frames.append((state.seq, paused, speed))
        if at_end:
            self.end_frames += 1

    def close(self, state: RunState, *, speed: float) -> None:
        """Record the last frame's event."""
        self.closed_at = state.seq


def replayer(
    script: list[str], *, speed: float = 1.0, idle_limit_s: float = 10.0
) -> tuple[Replayer, RecordingView, FakeClock]:
    """A replayer on a fake clock, fed the scripted keys."""
    clock = FakeClock()
    view = RecordingView()
    options = ReplayOptions(path=Path("unused"), speed=speed, idle_limit_s=idle_limit_s)
    keys = ScriptedKeys(clock, script)
    return Replayer(options, view=view, keys=keys, clock=clock), view, clock


def capped_gaps(events: list[Event], *, speed: float, cap: float) -> float:
    """The wall time a replay of `events` should take."""
    times: list[float] = [e["t"] for e in events]
    return sum(min((b - a) / speed, cap) for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(("speed", "cap"), [(1.0, 10.0), (2.0, 10.0), (1.0, 0.2), (4.0, 0.1)])
def test_the_replay_takes_the_gaps_over_speed_capped_at_the_idle_limit(
    speed: float, cap: float
) -> None:
    events = small_log().events
    replay, view, clock = replayer([], speed=speed, idle_limit_s=cap)
    state = replay.run(events)
    assert clock.now == pytest.approx(capped_gaps(events, speed=speed, cap=cap))
    assert state.finished is not None
    assert view.closed_at == len(events)


def test_q_quits_before_the_end() -> None:
    events = small_log().events
    replay, view, _ = replayer(["", "q"])
    state = replay.run(events)
    assert state.finished is None
    assert view.closed_at == state.seq < len(events)


def test_each_dot_steps_exactly_one_event_while_paused() -> None:
    replay, view, _ = replayer([" ", "", "", ".", "", "", ".", "", "q"])
    replay.run(small_log().events)
    paused_at = next(seq for seq, paused, _ in view.frames if paused)
    assert view.closed_at == paused_at + 2


def test_plus_and_minus_double_and_halve_the_speed() -> None:
    replay, view, _ = replayer(["+", "+", "-", "q"])
    replay.run(steady_log(tasks=20, gap_s=1.0).events)
    speeds = [speed for _, _, speed in view.frames]
    assert [s for i, s in enumerate(speeds) if i == 0 or s != speeds[i - 1]] == [1.0, 2.0, 4.0, 2.0]


def test_a_pause_is_not_owed_after_resuming() -> None:
    clock = FakeClock()
    pacer = Pacer(speed=1.0, idle_limit_s=10.0, clock=clock)
    pacer.begin(0.0)
    assert pacer.schedule(2.0) == 2.0
    clock.now = 1.0
    pacer.toggle_pause()
    clock.now = 31.0
    pacer.toggle_pause()
    assert pacer.due == 32.0  # the second still owed, after the 30 s pause


def test_a_new_speed_rescales_the_wait_under_way() -> None:
    clock = FakeClock()
    pacer = Pacer(speed=1.0, idle_limit_s=10.0, clock=clock)
    pacer.begin(0.0)
    pacer.schedule(4.0)
    clock.now = 2.0
    pacer.set_speed(4.0)
    assert pacer.due == 2.5
    assert pacer.schedule(8.0) == 3.5


# -- a real terminal ------------------------------------------------------------------------


def test_a_replay_on_a_terminal_obeys_keys_and_restores_the_terminal(tmp_path: Path) -> None:
    path = steady_log(tasks=400, gap_s=0.5).write(tmp_path / "steady.jsonl")
    with dtq_on_terminal(["replay", str(path), "--speed", "50"]) as term:
        assert term.read_until(b"steady", 20), term.output.decode()
        for key, marker in ((b" ", b"PAUSED"), (b"+", "×100".encode()), (b".", b""), (b".", b"")):
            os.write(term.master, key)
            assert term.read_until(marker, 10), key
        os.write(term.master, b"q")
        deadline = time.monotonic() + 20
        while term.proc.poll() is None and time.monotonic() < deadline:
            term.read_until(b"\0never", 0.1)
        assert term.proc.poll() == 0, term.output.decode(errors="replace")[-2000:]
        assert term.settings_unchanged()


def test_a_step_back_in_event_time_is_not_waited_for_twice() -> None:
    clock = FakeClock()
    pacer = Pacer(speed=1.0, idle_limit_s=10.0, clock=clock)
    pacer.begin(0.0)
    assert [pacer.schedule(t) for t in (1.0, 0.5, 1.5)] == [1.0, 1.0, 1.5]


# -- time flags with units, logs named by scenario ---------------------------------------------


def test_time_flags_take_units_as_scenarios_do(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--start-at 2s --until 4s`, as the README writes it, and `--idle-limit 500ms`."""
    args = ["replay", str(log), "--plain", "--speed", "1000", "--start-at", "2s", "--until", "4s"]
    assert main([*args, "--idle-limit", "500ms"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("t=2.00s ")
    assert "after 4.00s" in out


@pytest.mark.parametrize("flag", ["--start-at", "--until", "--idle-limit"])
def test_a_time_without_a_sensible_unit_exits_2_naming_the_flag(
    log: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(log), "--plain", flag, "2 parsecs"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "is not a duration" in err


def test_a_scenario_name_replays_its_newest_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dtq replay small` picks logs/small-<newest stamp>.jsonl, and says which it picked."""
    logs = tmp_path / "logs"
    logs.mkdir()
    old = small_log().write(logs / "small-20260101T000000.000Z.jsonl")
    named = small_log().write(logs / "small.jsonl")  # written with --log logs/small.jsonl
    newest = steady_log(tasks=3, gap_s=1.0).write(logs / "small-20260102T000000.000Z.jsonl")
    other = small_log().write(logs / "small-extra-20260103T000000.000Z.jsonl")  # not small
    for age_s, path in enumerate((other, newest, named, old)):
        os.utime(path, (1e9 - age_s, 1e9 - age_s))  # the other scenario's log is newest
    monkeypatch.chdir(tmp_path)
    assert main(["replay", "small", "--final", "--plain"]) == 0
    captured = capsys.readouterr()
    assert summary_value(captured.out, "submitted") == "3"
    assert str(Path("logs") / newest.name) in captured.err and "newest of 3" in captured.err


def test_a_scenario_name_without_logs_exits_2_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["replay", "burst", "--final"]) == 2
    assert "holds no log of a scenario named 'burst'" in capsys.readouterr().err


# -- seeking, speed bounds, the end ----------------------------------------------------------

RIGHT = "\x1b[C"
LEFT = "\x1b[D"


def test_arrows_move_five_seconds_and_g_goes_back_to_the_start() -> None:
    events = steady_log(tasks=20, gap_s=1.0, workers=1).events
    seen: list[float] = []

    class Watching(RecordingView):
        def show(self, state: RunState, **kwargs: object) -> None:
            seen.append(state.t)

    clock = FakeClock()
    keys = ScriptedKeys(clock, ["", RIGHT, "", LEFT + LEFT, "", "G"])
    options = ReplayOptions(path=Path("unused"), idle_limit_s=10.0)
    Replayer(options, view=Watching(), keys=keys, clock=clock).run(events)
    jumps = [b for a, b in itertools.pairwise(seen) if abs(b - a) >= 4]
    assert jumps[0] >= 5.0  # right: five seconds on, at once
    assert jumps[1] < jumps[0]  # left twice: back again, the log folded from its start
    assert seen[-1] == 20.0  # G: the end


def test_g_goes_to_the_start_and_the_state_is_folded_again() -> None:
    events = steady_log(tasks=20, gap_s=1.0, workers=1).events
    clock = FakeClock()
    view = RecordingView()
    keys = ScriptedKeys(clock, ["", "", "", "", "", "", "", "", "g", "q"])
    options = ReplayOptions(path=Path("unused"), idle_limit_s=10.0)
    state = Replayer(options, view=view, keys=keys, clock=clock).run(events)
    assert state.t <= 1.0 and state.succeeded <= 1


def test_speed_keys_stop_at_the_bounds() -> None:
    replay, view, _ = replayer(["-"] * 12 + ["q"])
    replay.run(steady_log(tasks=20, gap_s=1.0).events)
    assert min(speed for _, _, speed in view.frames) == 1 / 64
    replay, view, _ = replayer(["+"] * 14 + ["q"])
    replay.run(steady_log(tasks=20, gap_s=1.0).events)
    assert max(speed for _, _, speed in view.frames) == 1024


def test_on_a_terminal_the_end_stays_until_q() -> None:
    """Interactive: the log's end shows an end frame and waits; q then closes it."""
    events = small_log().events
    clock = FakeClock()
    view = RecordingView()
    keys = ScriptedKeys(clock, [""] * 40 + ["x", "", "q"], interactive=True)
    options = ReplayOptions(path=Path("unused"), idle_limit_s=10.0)
    Replayer(options, view=view, keys=keys, clock=clock).run(events)
    assert view.end_frames >= 1 and view.closed_at == len(events)
    assert keys.script == []  # every key was read: the end waited for q


def test_left_at_the_end_replays_again_from_five_seconds_back() -> None:
    events = steady_log(tasks=20, gap_s=1.0, workers=1).events
    clock = FakeClock()
    view = RecordingView()
    keys = ScriptedKeys(clock, ["G", LEFT, "", "q"], interactive=True)
    options = ReplayOptions(path=Path("unused"), idle_limit_s=10.0)
    state = Replayer(options, view=view, keys=keys, clock=clock).run(events)
    assert view.end_frames == 1 and state.finished is None and 14.0 <= state.t < 20.0


def test_a_speed_outside_the_bounds_exits_2(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(log), "--plain", "--speed", "5000"]) == 2
    assert "--speed: must be between 1/64 and 1024" in capsys.readouterr().err


def test_on_a_terminal_the_end_keeps_the_summary_until_q_and_swallows_stray_keys(
    tmp_path: Path,
) -> None:
    """The last frame shows the summary and says q quits; keys typed after q never reach
    the shell; each frame is one synchronized update."""
    path = steady_log(tasks=12, gap_s=0.5).write(tmp_path / "steady.jsonl")
    with dtq_on_terminal(["replay", str(path), "--speed", "64"]) as term:
        assert term.read_until(b"of 6.0 s", 20), term.output.decode(errors="replace")
        assert term.read_until(b"q quits", 30), term.output.decode(errors="replace")[-2000:]
        assert term.read_until(b"succeeded", 5)
        term.read_until(b"\0never", 1.0)
        assert term.proc.poll() is None  # still on the last frame, waiting for q
        os.write(term.master, b"q" + b"x" * 99)  # one read takes 64 bytes: the rest stays queued
        deadline = time.monotonic() + 20
        while term.proc.poll() is None and time.monotonic() < deadline:
            term.read_until(b"\0never", 0.1)
        assert term.proc.poll() == 0, term.output.decode(errors="replace")[-2000:]
        pending, _, _ = select.select([term.slave], [], [], 0.2)
        assert not pending  # the stray keys were dropped, not left for the shell
        assert term.settings_unchanged()
    output = bytes(term.output)
    assert output.count(b"\x1b[?2026h") == output.count(b"\x1b[?2026l") > 0
