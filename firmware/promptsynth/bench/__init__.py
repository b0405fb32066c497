"""Benchmarks: `promptsynth bench <part> --json` prints the figures each issue names."""
