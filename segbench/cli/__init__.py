"""The ``segbench`` command line (``segbench.cli:main``)."""

from segbench.cli.app import UserError, app, main

# Registration side effects: each module adds its commands to ``app``.
from segbench.cli import measure, accuracy, results  # noqa: E402,F401,I001 - help lists them in this order

__all__ = ["UserError", "app", "main"]
