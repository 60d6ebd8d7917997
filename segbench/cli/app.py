"""The ``segbench`` command line: a thin Typer layer over the importable core.

Every command parses its options, calls one plain function, and renders what
it returns. A user mistake is one line on stderr and exit status 2, never a
traceback. Commands live in three modules (measure, accuracy, results) that
register on the one ``app`` defined here.
"""

from __future__ import annotations

import sys
import warnings

import typer
from rich.console import Console

from segbench.inputs import DamagedCheckpointWarning
from segbench.outputs import OutputPathError
from segbench.plugins import PluginError, load_plugins
from segbench.rounds import RoundsWarning
from segbench.spec import SpecError

ClickError: type[Exception]
try:  # typer >= 0.2x vendors click and exposes its exception base
    from typer import TyperException

    ClickError = TyperException
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException

    ClickError = ClickException

app = typer.Typer(
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Benchmark semantic segmentation encoder x decoder grids: params, GFLOPs, latency, memory.",
)


def _print_version(value: bool) -> None:
    if value:
        from segbench import __version__

        typer.echo(f"segbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print segbench's version and exit."),
) -> None:
    """Benchmark semantic segmentation encoder x decoder grids: params, GFLOPs, latency, memory."""
out = Console()
if not out.is_terminal:  # piped or in CI: rich would squeeze tables into 80 columns
    out.width = 200
err = Console(stderr=True, soft_wrap=True)  # status lines stay whole, for logs and greps


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""



def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """segbench's own warnings (a damaged checkpoint set aside, a latency round lost) as one line; others as is."""
    if issubclass(category, (DamagedCheckpointWarning, RoundsWarning)):
        err.print(f"[yellow]warning[/]: {message}", highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user mistakes into one line and exit status 2.

    An output path that cannot be written (:class:`OutputPathError`, or an
    OSError naming its file from deeper down) is one line and exit status 2 too.
    Warnings are collected here, so a damaged checkpoint set aside is one line.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            load_plugins()
            # Outside standalone mode, click returns (not raises) the code of a typer.Exit.
            code = app(args=args or ["--help"], prog_name="segbench", standalone_mode=False)
    except (UserError, PluginError, OutputPathError, SpecError) as e:
        return _fail(str(e))
    except OSError as e:
        if e.filename is None:
            raise
        return _fail(f"{e.filename}: {(e.strerror or str(e)).lower()}")
    except typer.Abort:
        err.print("aborted", highlight=False)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except ClickError as e:
        return _fail(e.format_message() if hasattr(e, "format_message") else str(e))
    return code if isinstance(code, int) else 0
