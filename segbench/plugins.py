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
    """A plugin named in ``SEGBENCH_PLUGINS`` could not be imported, or raised while it was."""


def plugin_modules() -> list[str]:
    """The module names in ``SEGBENCH_PLUGINS``, in order."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins(modules: list[str] | None = None) -> list[str]:
    """Import each plugin module (``SEGBENCH_PLUGINS`` by default).

    Whatever goes wrong (a missing module, a relative name, a plugin that
    raises, even ``sys.exit``) is one PluginError line naming the plugin:
    a plugin is someone else's code, and its traceback is not the user's
    mistake to read. Ctrl-C still interrupts.
    """
    modules = plugin_modules() if modules is None else modules
    for name in modules:
        if name.startswith("."):  # import_module needs a package to resolve it against; there is none
            raise PluginError(f"{PLUGINS_ENV}: plugin '{name}' is a relative module name; "
                              "give its full dotted name")
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise PluginError(f"{PLUGINS_ENV}: cannot import plugin '{name}': {e}") from None
        except (Exception, SystemExit) as e:  # any failure of a plugin is reported as one line
            detail = str(e).strip().splitlines()
            raise PluginError(f"{PLUGINS_ENV}: plugin '{name}' failed while imported: "
                              f"{type(e).__name__}{': ' + detail[0] if detail else ''}") from None
    return modules
