"""Smoke tests: the probe suite run for real on a model, isolated, measured and cached."""
