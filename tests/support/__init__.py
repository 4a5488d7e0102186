"""Helpers for tests and benches: servers and fixtures that are not tests themselves."""
