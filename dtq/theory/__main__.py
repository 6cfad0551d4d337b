"""`python -m dtq.theory`: the virtual clock against queueing theory, then overload
against published results (`make theory`)."""

from __future__ import annotations

import sys

from dtq.theory import overload
from dtq.theory.validate import main

queueing = main()
sys.exit(queueing or overload.main([]))
