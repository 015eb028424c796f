"""Benchmarks: `make bench` runs every section and writes docs/benchmarks.md."""
