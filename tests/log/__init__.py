"""Tests of dtq.log."""
