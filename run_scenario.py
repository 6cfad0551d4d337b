"""Thin entry point: `python run_scenario.py SCENARIO ...` is `dtq run SCENARIO ...`."""

from __future__ import annotations

import sys

from dtq.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
