"""Benchmarks: a synthetic arXiv-sized corpus and every figure beside its bare baseline."""
