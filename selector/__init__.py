"""selector: an advisor that tells an enterprise which open-weight LLM to deploy."""

__version__ = "0.1.0"
