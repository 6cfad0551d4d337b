"""`-o FILE` for the commands that print a report: where their output goes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from dtq.errors import UsageError

HTML_NEEDS_FILE = "--format html writes a page to open in a browser: give -o FILE (e.g. -o {})"


def add_format_options(parser: object, *, json_doc: str, page: str) -> None:
    """Add `--format text|json|markdown|html` and `-o FILE`: `json_doc` documents the JSON,
    `page` says what the HTML page holds."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--format",
        choices=("text", "json", "markdown", "html"),
        default="text",
        help=f"text tables (default), JSON ({json_doc}), GitHub markdown, or a "
        f"self-contained HTML page {page} (docs/pictures.md; needs -o)",
    )
    add_output_option(parser)


def add_output_option(parser: object) -> None:
    """Add `-o/--output FILE` to a subcommand's parser."""
    parser.add_argument(  # type: ignore[attr-defined]
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE instead of standard output (needed for --format html)",
    )


@contextmanager
def output_stream(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or `path` created or replaced; an unwritable path is a usage error."""
    if path is None:
        yield sys.stdout
        return
    try:
        with path.open("w", encoding="utf-8") as handle:
            yield handle
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write: {exc.strerror or exc}") from None


def page_path(path: Path | None, *, example: str) -> Path:
    """`-o`'s file, which `--format html` needs (checked before any work is done)."""
    if path is None:
        raise UsageError(HTML_NEEDS_FILE.format(example))
    return path


def write_page(path: Path, page: str) -> None:
    """Write an HTML page to `path` and say where it went and how big it is."""
    with output_stream(path) as handle:
        handle.write(page)
    size_mb = len(page.encode("utf-8")) / 1e6
    print(f"wrote {path} ({size_mb:.1f} MB): open it in a browser, it works offline")
