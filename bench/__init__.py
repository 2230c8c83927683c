"""Benchmarks of letta-apply against a real Letta server, each figure next to its reference.

`python -m bench` (or `make bench`) runs them; see `docs/performance.md` for the figures.
"""
