"""Tests of dtq.render."""
