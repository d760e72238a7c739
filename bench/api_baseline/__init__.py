"""Baselines of the API benchmark (bench/api_bench.py): a bare FastAPI endpoint and PostGraphile 4."""
