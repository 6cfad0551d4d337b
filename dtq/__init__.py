"""dtq: what will my job queue do under this load, with these failures and this retry policy?"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
