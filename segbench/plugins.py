"""Plugins: modules named in ``SEGBENCH_PLUGINS`` are imported in every segbench process.

A plugin registers encoders, decoders or datasets on import
(``@DECODERS.register(...)``). Naming it in an environment variable, a comma
list of importable modules, reaches the command line, the subprocess
executor's fresh processes and Ray workers alike, which a registration made
in one Python process cannot::

    SEGBENCH_PLUGINS=mylab.decoders segbench grid --decoders my_decoder ...
"""

from __future__ import annotations

import importlib
import os

PLUGINS_ENV = "SEGBENCH_PLUGINS"


class PluginError(ValueError):
    """A plugin named in ``SEGBENCH_PLUGINS`` could not be imported."""


def plugin_modules() -> list[str]:
    """The module names in ``SEGBENCH_PLUGINS``, in order."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins(modules: list[str] | None = None) -> list[str]:
    """Import each plugin module (``SEGBENCH_PLUGINS`` by default); a missing one is a PluginError."""
    modules = plugin_modules() if modules is None else modules
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise PluginError(f"{PLUGINS_ENV}: cannot import plugin '{name}': {e}") from None
    return modules
