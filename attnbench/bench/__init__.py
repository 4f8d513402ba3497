"""Benchmarks: each turns a config into measurement rows written to the results store. None plots."""
