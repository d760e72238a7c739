"""Benchmarks (not tests): datasets, load generators and JSON results under bench/results/."""
