"""Every command, transcript, scenario and link in README.md and docs/*.md works as written.

Each page's blocks run in order in a scratch copy of the project (scenarios/ and
baselines/ copied, logs/ empty, the rest linked), with the project's virtualenv first
on PATH, as after `source .venv/bin/activate`:

- ```sh blocks run in one bash shell; each command must exit 0, or the code its
  trailing comment names (`# exits 1 ...`);
- transcripts (a block whose first line starts with `$ `) run each command and must
  print exactly the lines shown, where a line `...` stands for any lines left out;
- ```yaml blocks are scenarios: validated with `dtq validate` and run on the virtual
  clock, where their `expect:` must hold; a fragment (no `arrivals`) is completed with
  the least it lacks (one task type, a priority and duration per type, ten tasks each).

An HTML comment right before a block changes that, visibly and with a reason:
`<!-- docs-test: skip (why) -->`, `<!-- docs-test: file NAME -->` (write the block to
NAME for later blocks), `<!-- docs-test: validate only (why) -->` (a scenario that is
not run), `<!-- docs-test: terminal -->` (run on an 80x24 pseudo-terminal), optionally
`<!-- docs-test: terminal, press q once "TEXT" shows -->`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.terminal import read_until

PROJECT = Path(__file__).resolve().parent.parent
PAGES = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
README_LIMIT = 12_000
COMMAND_LANGS = {"sh", "bash", "shell", "console"}
COPIED = {"scenarios", "baselines"}
LEFT_OUT = {"logs", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
BLOCK_TIMEOUT_S = 300
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 13
NOTE = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->$")
INSTALLS = re.compile(r"\bmake\s+(install|install-bench|bench)\b|\bpip\s+install\b")
EXPECTED_EXIT = re.compile(r"#\s*exits?\s+(\d+)\b")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
NOTE_FORMS = re.compile(
    r'^(skip \(.+\)|file \S+|validate only \(.+\)|terminal(, press \S+ once "[^"]+" shows)?)$'
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
LEAST_TASK = {"priority": 5, "duration": {"dist": "constant", "value": "1ms"}}
ONE_BURST = {"pattern": "burst", "count": 10, "at": "0s"}
ONE_TASK: dict[str, Any] = {"name": "fragment", "workers": 1, "task_types": {"job": LEAST_TASK}}


@dataclass
class Block:
    """One fenced block of a page: where it starts, its language, text and notes."""

    page: Path
    line: int
    lang: str
    text: str
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """`README.md:12`, the line of the opening fence."""
        return f"{self.page.relative_to(PROJECT)}:{self.line}"

    def note(self, word: str) -> str | None:
        """The docs-test note that starts with `word`, if there is one."""
        return next((n for n in self.notes if n.split(" ", 1)[0].rstrip(",") == word), None)

    @property
    def is_transcript(self) -> bool:
        """A block that shows commands after `$ ` and what they print."""
        return self.text.startswith("$ ") and self.lang in COMMAND_LANGS | {"text"}


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a markdown page, each with the docs-test notes right above it."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    notes: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        match = NOTE.match(line)
        if match:
            notes.append(match.group(1))
        elif line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            text = textwrap.dedent("\n".join(lines[i + 1 : end]) + "\n")
            found.append(Block(page, i + 1, line[3:].strip().lower(), text, notes))
            notes, i = [], end
        elif line:
            notes = []
        i += 1
    return found


# -- where a page's blocks run -------------------------------------------------------------


def scratch_project(root: Path) -> Path:
    """A copy of the project to run a page in: data copied, code and venv linked."""
    stamp, metadata = PROJECT / ".venv" / ".installed", PROJECT / "pyproject.toml"
    if not stamp.exists() or stamp.stat().st_mtime < metadata.stat().st_mtime:
        pytest.fail("the docs' make commands would reinstall .venv: run `make install` first")
    root.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT.iterdir():
        if entry.name in LEFT_OUT:
            continue
        if entry.name in COPIED:
            shutil.copytree(entry, root / entry.name)
        else:
            (root / entry.name).symlink_to(entry)
    (root / "logs").mkdir()
    return root


def environment(root: Path) -> dict[str, str]:
    """The shell's environment: the virtualenv active, no colour, a step summary file."""
    venv_bin = Path(sys.executable).parent
    # Not the variables of a make that runs these tests: they would pass its ARGS on.
    dropped = ("DTQ_", "PYTEST_", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv_bin.parent),
        NO_COLOR="1",
        COLUMNS="100",
        GITHUB_STEP_SUMMARY=str(root / "step-summary.md"),
    )
    return env


# -- shell blocks --------------------------------------------------------------------------


@dataclass
class Command:
    """One command of a block (continuation lines and here-documents included)."""

    line: int
    text: str

    @property
    def expected_exit(self) -> int:
        """The exit code its trailing comment names (`# exits 1 ...`), else 0."""
        lines = self.text.splitlines()
        last = next((line for line in lines if not line.rstrip().endswith("\\")), lines[-1])
        match = EXPECTED_EXIT.search(last)
        return int(match.group(1)) if match else 0


def commands(text: str, first_line: int) -> list[Command]:
    """Split a block into commands: `\\` continues a line, a here-document runs to its end."""
    lines = text.splitlines()
    found: list[Command] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start = i
        while lines[i].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
        heredoc = HEREDOC.search(lines[start])
        if heredoc:
            while i + 1 < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
        found.append(Command(first_line + 1 + start, "\n".join(lines[start : i + 1])))
        i += 1
    return found


def script(block: Block, cmds: list[Command]) -> str:
    """A bash script that runs the commands in order and stops at a wrong exit code."""
    parts = ["set -o pipefail"]
    for cmd in cmds:
        label = shlex.quote(f"{block.page.name}:{cmd.line}: {cmd.text.splitlines()[0]}")
        parts.append(
            f"{{ {cmd.text}\n}}\n__rc=$?\n"
            f'if [ "$__rc" -ne {cmd.expected_exit} ]; then\n'
            f'  echo "docs-test: exit $__rc, expected {cmd.expected_exit}: "{label} >&2\n'
            f"  exit 97\nfi"
        )
    parts.append('echo "${DTQ_REDIS_NAMESPACE:-}" > .docs-test-namespace')
    return "\n".join(parts) + "\n"


def run_block(block: Block, root: Path, env: dict[str, str]) -> str | None:
    """Run a shell block; None if every command exited as it should, else what went wrong."""
    if INSTALLS.search(block.text):
        return (
            f"{block.where}: this block installs, which from a scratch copy would point "
            "the project's .venv at it; mark it <!-- docs-test: skip (why) -->"
        )
    source = script(block, commands(block.text, block.line))
    if block.note("terminal"):
        code, out = on_terminal(source, root, env, block.note("terminal") or "")
    else:
        proc = subprocess.run(
            ["bash", "-c", source],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        code, out = proc.returncode, proc.stdout + proc.stderr
    forget_namespace(root)
    return None if code == 0 else f"{block.where}: exit {code}\n{out[-3000:]}"


def on_terminal(source: str, root: Path, env: dict[str, str], note: str) -> tuple[int, str]:
    """Run a script on a fresh 80x24 pty; press a key once a text shows, if the note says."""
    press = re.search(r'press (\S+) once "([^"]+)" shows', note)
    master, slave = os.openpty()
    term_env = {**env, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    term_env.pop("NO_COLOR")
    proc = subprocess.Popen(
        ["bash", "-c", source],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=root,
        env=term_env,
        start_new_session=True,
    )
    output = bytearray()
    deadline = time.monotonic() + BLOCK_TIMEOUT_S
    try:
        if press and shows(proc, master, output, press.group(2).encode(), deadline):
            os.write(master, press.group(1).encode())
        while proc.poll() is None and time.monotonic() < deadline:
            read_until(master, output, b"\0never", time.monotonic() + 0.1)
        read_until(master, output, b"\0never", time.monotonic() + 0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(master)
        os.close(slave)
    return proc.returncode, output.decode(errors="replace")


def shows(
    proc: subprocess.Popen[bytes], master: int, output: bytearray, text: bytes, deadline: float
) -> bool:
    """Read the terminal until `text` shows; False if the process ends or time runs out first."""
    while proc.poll() is None and time.monotonic() < deadline:
        if read_until(master, output, text, time.monotonic() + 0.1):
            return True
    return False


def forget_namespace(root: Path) -> None:
    """Delete the test database's keys of the Redis namespace a block used, if any."""
    marker = root / ".docs-test-namespace"
    name = marker.read_text().strip() if marker.exists() else ""
    marker.unlink(missing_ok=True)
    if not name:
        return
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.unlink(*keys)
    finally:
        client.close()


def redis_problem(block: Block) -> str | None:
    """Why a block that talks to Redis cannot run here, or None if it can (or need not)."""
    urls = re.findall(r"redis://[^\s\"'`]+", block.text)
    if not urls:
        return None
    own = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    if any(url != own for url in urls) or not re.search(
        r"DTQ_REDIS_NAMESPACE=|--namespace", block.text
    ):
        return (
            f"{block.where}: a block that uses Redis runs in the tests only against {own} "
            "with a namespace of its own (DTQ_REDIS_NAMESPACE=...); otherwise mark it "
            "<!-- docs-test: skip (why) -->"
        )
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            return f"{block.where}: CI runs the Redis blocks, but no Redis answers: {exc}"
        pytest.skip(f"{block.where}: no Redis answers at {REDIS_HOST}:{REDIS_PORT}")
    finally:
        client.close()
    return None


# -- transcripts ---------------------------------------------------------------------------


def transcript(text: str) -> Iterator[tuple[str, list[str]]]:
    """The (command, printed lines) pairs of a `$ ` transcript."""
    command: str | None = None
    printed: list[str] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, printed
            command, printed = line[2:], []
        else:
            printed.append(line.rstrip())
    if command is not None:
        yield command, printed


def matches(printed: list[str], shown: list[str]) -> bool:
    """The printed lines are the shown ones; a shown line `...` stands for any lines."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n" for line in shown
    )
    return re.fullmatch(pattern, "".join(line + "\n" for line in printed)) is not None


def run_transcript(block: Block, root: Path, env: dict[str, str]) -> str | None:
    """Run a transcript's commands; None if each exits as noted and prints what is shown."""
    for command, shown in transcript(block.text):
        expected = Command(block.line, command).expected_exit
        proc = subprocess.run(
            ["bash", "-c", "set -o pipefail\n" + command],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        printed = [line.rstrip() for line in (proc.stdout + proc.stderr).splitlines()]
        if proc.returncode != expected or not matches(printed, shown):
            return (
                f"{block.where}: $ {command}\nexit {proc.returncode} (expected {expected})\n"
                + "printed:\n"
                + "\n".join(printed)
                + "\nshown:\n"
                + "\n".join(shown)
            )
    return None


# -- scenarios -----------------------------------------------------------------------------


def scenario_text(block: Block) -> str:
    """The block as a whole scenario: a fragment (no `arrivals`) gets the least it lacks."""
    data: Any = yaml.safe_load(block.text)
    if not isinstance(data, dict) or "arrivals" in data:
        return block.text
    kinds = data.get("task_types") or ONE_TASK["task_types"]
    whole = {
        **ONE_TASK,
        **data,
        "task_types": {name: {**LEAST_TASK, **(kind or {})} for name, kind in kinds.items()},
        "arrivals": [{**ONE_BURST, "task": name} for name in kinds],
    }
    return yaml.safe_dump(whole, sort_keys=False)


def check_scenario(block: Block, root: Path, env: dict[str, str]) -> str | None:
    """Validate a scenario block, then run it on the virtual clock unless noted otherwise."""
    path = root / f"docs-block-{block.page.stem}-{block.line}.yaml"
    path.write_text(scenario_text(block), encoding="utf-8")
    steps = [["dtq", "validate", path.name]]
    if block.note("validate") is None:
        log = f"logs/{path.stem}.jsonl"
        steps.append(["dtq", "run", path.name, "--clock", "virtual", "--quiet", "--log", log])
    for argv in steps:
        proc = subprocess.run(
            argv, cwd=root, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr)[-3000:]
            return f"{block.where}: {' '.join(argv[:2])} exit {proc.returncode}\n{out}"
    return None


# -- the tests -----------------------------------------------------------------------------


def page_id(page: Path) -> str:
    """The page's path in the project, as the test's id."""
    return str(page.relative_to(PROJECT))


def check_block(block: Block, root: Path, env: dict[str, str]) -> str | None:
    """Run or validate one block as its kind and notes say; what went wrong, or None."""
    if block.note("skip") is not None:
        return None
    named = block.note("file")
    if named is not None:
        (root / named.split(" ", 1)[1].strip()).write_text(block.text, encoding="utf-8")
        return None
    if block.is_transcript:
        return redis_problem(block) or run_transcript(block, root, env)
    if block.lang in COMMAND_LANGS:
        return redis_problem(block) or run_block(block, root, env)
    if block.lang in ("yaml", "yml"):
        return check_scenario(block, root, env)
    return None


@pytest.mark.slow
@pytest.mark.timeout(600)  # a page's blocks run one after another: the sweeps take a while
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_runs_as_written(page: Path, tmp_path: Path) -> None:
    """Each block of the page, in order, exits and prints as the page says."""
    root = scratch_project(tmp_path / "project")
    env = environment(root)
    failures = [f for b in blocks(page) if (f := check_block(b, root, env)) is not None]
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_skip_says_why(page: Path) -> None:
    """A skipped block names its reason; an unknown note is a typo, not a silent no-op."""
    for block in blocks(page):
        for note in block.notes:
            assert NOTE_FORMS.match(note), (
                f"{block.where}: unknown docs-test note {note!r}; write one of: "
                'skip (why), file NAME, validate only (why), terminal[, press K once "T" shows]'
            )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_says_what_it_is(page: Path) -> None:
    """A fence names its language (sh, console, yaml, text ...): no command goes unrun."""
    untagged = [b.where for b in blocks(page) if not b.lang]
    assert not untagged, f"name the language of the blocks at {untagged}: sh, text, yaml ..."


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_lead_somewhere(page: Path) -> None:
    """Every relative link names a file of the project, and an anchor a heading of it."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, f"{page_id(page)}: " + "; ".join(broken)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def test_the_readme_reads_in_five_minutes() -> None:
    """README.md stays under 12,000 characters; details live in docs/."""
    size = len((PROJECT / "README.md").read_text(encoding="utf-8"))
    assert size < README_LIMIT, f"README.md is {size} characters; move details to docs/"


def test_the_docs_index_links_every_page() -> None:
    """docs/README.md links every page in docs/, and README.md links the index."""
    index = (PROJECT / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(index)}
    pages = {p.name for p in PAGES if p.parent.name == "docs" and p.name != "README.md"}
    assert pages <= linked, f"docs/README.md does not link {sorted(pages - linked)}"
    assert "docs/README.md" in (PROJECT / "README.md").read_text(encoding="utf-8")


def test_the_block_reader_sees_notes_commands_and_exit_codes(tmp_path: Path) -> None:
    """The reader this test relies on: notes attach to the next block, comments set codes."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: skip (needs a cluster) -->\n```sh\ndtq a \\\n  --b\n```\n\ntext\n"
        "```sh\ncat > f <<'EOF'\nx\nEOF\ndtq check   # exits 1: a DLQ moved\n```\n",
        encoding="utf-8",
    )
    first, second = blocks(page)
    assert first.note("skip") == "skip (needs a cluster)" and second.notes == []
    cmds = commands(second.text, second.line)
    assert [c.text for c in cmds] == [
        "cat > f <<'EOF'\nx\nEOF",
        "dtq check   # exits 1: a DLQ moved",
    ]
    assert [c.expected_exit for c in cmds] == [0, 1]
    assert [c.text for c in commands(first.text, first.line)] == ["dtq a \\\n  --b"]
    assert Command(1, "dtq diff a \\\n  b   # exits 1: moved").expected_exit == 1


def test_a_transcript_line_of_dots_stands_for_the_lines_left_out() -> None:
    """`...` matches any lines (none too); every other line must be printed as shown."""
    assert matches(["a", "b", "c", "d"], ["a", "  ...", "d"])
    assert matches(["a", "d"], ["a", "...", "d"])
    assert not matches(["a", "b", "c"], ["a", "...", "d"])
    assert not matches(["a", "b"], ["a"])
