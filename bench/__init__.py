"""Benchmarks: printed figures, comparisons side by side in one run (see README.md here)."""
