"""Engines drive the pure core: real threads on the real clock, or a virtual clock."""
