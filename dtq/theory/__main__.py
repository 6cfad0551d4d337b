"""`python -m dtq.theory`: compare virtual-clock runs with queueing theory."""

from __future__ import annotations

import sys

from dtq.theory.validate import main

sys.exit(main())
