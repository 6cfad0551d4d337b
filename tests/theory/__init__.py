"""Tests of dtq.theory."""
