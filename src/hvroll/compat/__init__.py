"""Compatibility: which VM may run or live-migrate where, and why not."""
