"""Benchmarks of the stats, evaluation, award and ingest paths, each against a baseline of the same run.

Run with `make bench` or `python -m bench` (see bench/README.md).
"""
