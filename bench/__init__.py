"""Benchmarks for textgate; see bench/README.md."""
