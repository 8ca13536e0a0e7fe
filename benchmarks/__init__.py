"""Benchmarks: measurements kept out of the test suite because they are slow or machine-bound."""
