"""Entry point for `python -m selector`."""

from selector.cli import main

main()
