"""Tests of the desktop window (pytest-qt, offscreen)."""
