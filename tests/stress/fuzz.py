"""Broken scenario files through `dtq validate`, damaged logs through the reading commands.

Both in-process: an exception escaping the command line is a traceback a user would
have seen. A scenario that validates is also run (virtual clock) when it is small, so
"validates, then breaks the run" is caught too.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.engine import runner
from dtq.errors import DtqError
from dtq.log.verify import verify_log
from dtq.scenario import load_scenario
from dtq.scenario.models import Scenario
from dtq.scenario.references import estimate_tasks
from tests.reliability import TORTURE_SCENARIO, run_logged
from tests.scenario.test_fuzz import PROBLEM_LINE, VALID, json_like, paths, replaced
from tests.stress import Figures, run_cli

SCENARIO_CODES = frozenset({0, 2})
LOG_COMMANDS: dict[str, tuple[list[str], frozenset[int]]] = {
    "verify": (["verify"], frozenset({0, 1, 2})),
    "report": (["report"], frozenset({0, 2})),
    "replay": (["replay", "--final", "--plain"], frozenset({0, 2})),
}
SMALL_RUN = 2_000
"""Scenarios that validate and submit at most this many tasks are run too."""

# -- scenarios -----------------------------------------------------------------------------

NUMERIC = [("seed",), ("workers",), ("arrivals", 0, "rate"), ("arrivals", 1, "count")]
NUMERIC += [("task_types", "email", "priority"), ("faults", 0, "rate"), ("expect", "dlq_max")]
YAML_TEXT_NUMBERS = ["1e9", "1.0e9", "1e+3", "-2E5", ".5e3", "1e-3", "'3'", "1_000"]
ESCAPES = ["\\ud800", "\\udcff", "\\ud83d\\ude00", "\\x00", "\\u0007", "\\U0001F600", "\\t"]


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _number_as_text(draw: st.DrawFn) -> str:
    """A numeric field written as YAML 1.1 reads as text (`rate: 1e9`)."""
    path = draw(st.sampled_from(NUMERIC))
    marker = "__NUMBER__"
    text = _dump(replaced(VALID, path, marker))
    return text.replace(marker, draw(st.sampled_from(YAML_TEXT_NUMBERS)))


def _escaped_text(draw: st.DrawFn) -> str:
    """A double-quoted YAML escape (some not valid Unicode) in a text value or a key."""
    where = draw(st.sampled_from(["description", "name", "task", "key"]))
    escape = draw(st.sampled_from(ESCAPES))
    data = dict(VALID)
    marker = "__TEXT__"
    if where == "task":
        data = replaced(VALID, ("arrivals", 0, "task"), marker)
    elif where == "key":
        data = {**VALID, "task_types": {marker: VALID["task_types"]["email"]}}
    else:
        data[where] = marker
    return _dump(data).replace(marker, f'"a{escape}b"')


def _wrong_names(draw: st.DrawFn) -> str:
    """Task names that refer to nothing, next to schema errors elsewhere."""
    data = replaced(VALID, ("arrivals", 0, "task"), draw(st.sampled_from(["emial", "x", ""])))
    if draw(st.booleans()):
        data = replaced(data, ("workers",), draw(st.sampled_from(["many", -1, 1.5])))
    if draw(st.booleans()):
        data = replaced(data, ("faults", 0), {**VALID["faults"][0], "tasks": ["reprot"]})
    return _dump(data)


special_cases = st.one_of(
    st.composite(_number_as_text)(),
    st.composite(_escaped_text)(),
    st.composite(_wrong_names)(),
)
documents = st.one_of(
    json_like.map(_dump),
    st.sampled_from(paths(VALID)).flatmap(
        lambda at: json_like.map(lambda value: _dump(replaced(VALID, at, value)))
    ),
    st.text(max_size=300),
    special_cases,
    special_cases,
)


def fuzz_scenarios(figures: Figures, folder: Path, *, cases: int) -> None:
    """`cases` generated files through `dtq validate`; odd files too (pipes, odd names)."""
    path = folder / "fuzz.yaml"

    @settings(
        max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(documents)
    def one(text: str) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        figures.trial("fuzz scenario file", check_scenario(path, folder))

    one()
    for name, make in ODD_FILES.items():
        odd = make(folder)
        figures.trial(f"fuzz scenario: {name}", check_scenario(odd, folder))


def check_scenario(path: Path, folder: Path) -> list[str]:
    """`dtq validate PATH` exits 0 or 2 with well-formed lines; a small valid one runs."""
    code, printed, problems = run_cli(["validate", str(path)], SCENARIO_CODES)
    if code == 2:
        bad = [line for line in printed.splitlines() if not _is_message(line)]
        problems += [f"not a located message: {line!r}" for line in bad[:3]]
    if code == 0:
        problems += _run_small(path, folder)
    return problems


def _is_message(line: str) -> bool:
    return bool(PROBLEM_LINE.match(line)) or line.startswith("dtq: ")


def _run_small(path: Path, folder: Path) -> list[str]:
    """A file that validated runs (virtual clock) to a log that verifies, if it is small."""
    loaded = load_scenario(path)
    if estimate_tasks(loaded.model) > SMALL_RUN:
        return []
    log = folder / "fuzz-run.jsonl"
    try:
        outcome = runner.run(loaded.with_overrides(clock="virtual"), log_path=log)
    except DtqError as exc:
        return [f"validated, then the run refused it: {exc}"]
    verdict = verify_log(log)
    if outcome.status != "completed" or not verdict.is_valid:
        return [f"validated, then the run ended {outcome.status}: {outcome.error}"]
    return []


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.yaml"
    if not path.exists():
        os.mkfifo(path)
    return path


def _not_utf8_name(folder: Path) -> Path:
    path = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.yaml"))
    path.write_text(_dump(VALID), encoding="utf-8")
    return path


def _folder(folder: Path) -> Path:
    path = folder / "dir.yaml"
    path.mkdir(exist_ok=True)
    return path


ODD_FILES: dict[str, Callable[[Path], Path]] = {
    "a named pipe": _fifo,
    "a file name not UTF-8": _not_utf8_name,
    "a folder": _folder,
    "a device": lambda _folder: Path("/dev/null"),
    "a missing file": lambda folder: folder / "missing.yaml",
}


# -- damaged logs ----------------------------------------------------------------------------

Damage = Callable[[random.Random, list[bytes]], list[bytes]]


def _drop(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    del lines[rng.randrange(len(lines))]
    return lines


def _repeat(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    index = rng.randrange(len(lines))
    lines.insert(index, lines[index])
    return lines


def _repeat_block(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    start = rng.randrange(len(lines))
    block = lines[start : start + rng.randrange(1, 40)]
    at = rng.randrange(len(lines) + 1)
    return lines[:at] + block + lines[at:]


def _swap(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return lines


def _cut(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    data = b"".join(lines)
    return [data[: rng.randrange(len(data))]]


def _garbage(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    lines[rng.randrange(len(lines))] = rng.randbytes(rng.randrange(1, 80)) + b"\n"
    return lines


GARBAGE_TAILS = [b"\n", b"\n\n", b"garbage\n", b"{}\n", b'{"seq": 1}\n', b"\xff\xfe\x00\n", b"}"]


def _append_garbage(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """Something after the last line (run_finished in a whole log): text, bytes, JSON."""
    tail = rng.choice([*GARBAGE_TAILS, rng.randbytes(rng.randrange(1, 200))])
    return [*lines, tail]


def _flip_byte(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    index = rng.randrange(len(lines))
    line = bytearray(lines[index])
    line[rng.randrange(len(line))] = rng.randrange(256)
    lines[index] = bytes(line)
    return lines


HUGE_T = [1e8, 3e8, 1e12, 1e15, 2.0**53, 1e300, 1.7976931348623157e308]


def _huge_t(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """One event's `t` (or every `t` from it on) made huge."""
    start = rng.randrange(len(lines))
    value = rng.choice(HUGE_T)
    every = rng.random() < 0.5
    for index in range(start, len(lines) if every else start + 1):
        lines[index] = _with_field(lines[index], "t", value)
    return lines


ODD_VALUES: list[Any] = [None, True, -1, 0, 2**70, 1e308, -0.5, "", "x" * 50, [], {}, [1], {"a": 1}]


def _retype_field(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """A line stays valid JSON but one field gets a value of another type, or goes."""
    index = rng.randrange(len(lines))
    try:
        event = orjson.loads(lines[index])
    except orjson.JSONDecodeError:
        return lines
    if not isinstance(event, dict) or not event:
        return lines
    key = rng.choice(sorted(event))
    if rng.random() < 0.3:
        del event[key]
    else:
        event[key] = rng.choice(ODD_VALUES)
    lines[index] = json.dumps(event).encode() + b"\n"  # orjson refuses 2**70
    return lines


def _with_field(line: bytes, key: str, value: Any) -> bytes:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(event, dict):
        return line
    event[key] = value
    return json.dumps(event).encode() + b"\n"


def _has_garbage_after_the_end(log: Path) -> bool:
    """Whether something other than blank lines follows a run_finished line."""
    data = log.read_bytes()
    end = data.rfind(b'"event":"run_finished"')
    if end < 0:
        return False
    rest = data[end:].split(b"\n", 1)
    return len(rest) == 2 and rest[1].strip() != b""


def _crlf(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    return [line.replace(b"\n", b"\r\n") for line in lines]


def _empty(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    return [] if rng.random() < 0.5 else [lines[0]]


DAMAGES: dict[str, Damage] = {
    "line dropped": _drop,
    "line repeated": _repeat,
    "lines duplicated": _repeat_block,
    "lines swapped": _swap,
    "cut": _cut,
    "garbage line": _garbage,
    "garbage appended": _append_garbage,
    "byte flipped": _flip_byte,
    "huge t": _huge_t,
    "field retyped": _retype_field,
    "CRLF": _crlf,
    "empty or one line": _empty,
}


def fuzz_logs(
    figures: Figures,
    folder: Path,
    *,
    cases: int,
    seed: int,
    damages: dict[str, Damage] = DAMAGES,
) -> None:
    """Damage a small real log at random (one of `damages` each time) and read it with
    verify, report and replay."""
    base = folder / "base.jsonl"
    small = {**TORTURE_SCENARIO, "clock": "virtual", "name": "fuzzbase"}
    small["arrivals"] = [{"pattern": "burst", "task": "email", "count": 80, "over": "2s"}]
    run_logged(Scenario.model_validate(small), base)
    lines = base.read_bytes().splitlines(keepends=True)
    rng = random.Random(seed)
    log = folder / "damaged.jsonl"
    for _ in range(cases):
        name = rng.choice(sorted(damages))
        log.write_bytes(b"".join(damages[name](rng, list(lines))))
        problems: list[str] = []
        for command, (args, codes) in LOG_COMMANDS.items():
            code, _, found = run_cli([*args, str(log)], codes)
            problems += found
            if command == "verify" and code == 0 and _has_garbage_after_the_end(log):
                problems.append(f"verify says ok with garbage after run_finished ({log})")
        figures.trial(f"damaged log: {name}", problems)
