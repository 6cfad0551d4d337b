"""Tests of dtq.backends."""
