"""Benchmarks for cardingest: ``python -m bench`` (see docs/performance.md).

Every case makes its own inputs in a temporary folder (under ``$BENCH_DIR`` or /tmp), runs
each contender several times, and prints medians with ratios against a baseline measured in
the same run: absolute times drift between machines and runs, ratios hold.
"""
