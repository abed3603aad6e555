"""Benchmarks: fixed seeds, workloads written down, figures recorded in BENCHMARKS.md.

Each module `bench_*.py` exposes `run() -> list[str]` (lines of a report).
"""
