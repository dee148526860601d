"""`make bench`: throughput and latency of the service on the configured database (see BENCHMARKS.md).

Not a test suite: nothing here is collected by pytest, and a missed target is reported, not failed.
"""
