"""`python -m dtq` is the same as the `dtq` command."""

from __future__ import annotations

import sys

from dtq.cli import main

sys.exit(main())
