"""Test support shared by the tests and the benches: local servers, fault servers and real
models assembled from PyPI parts; none of it is a test itself."""
