"""Test support shared by the tests and the benches: real models assembled from PyPI parts."""
