"""The ``segbench`` command line (``segbench.cli:main``)."""

# Registration side effects: each module adds its commands to ``app``.
from segbench.cli import accuracy, measure, report, results  # noqa: F401 - help lists them in this order
from segbench.cli.app import UserError, app, main

__all__ = ["UserError", "app", "main"]
