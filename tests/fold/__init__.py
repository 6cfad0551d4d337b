"""Tests of dtq.fold."""
