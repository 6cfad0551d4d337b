"""Benchmarks of dtq against its peers: `python -m bench --size quick|full` (or `make bench`).

Each row lives in its own module. The parent process only orchestrates: every
measurement runs in a fresh subprocess (`python -m bench.<row> --worker VARIANT ...`)
that prints one JSON line, dtq and its peers alternate, and the table shows medians.
"""
