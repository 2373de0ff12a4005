"""Benchmarks (a command, not tests): ``python -m benchmarks [--quick]``."""
