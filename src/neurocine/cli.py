"""The ``neurocine`` command line: parse arguments, call a pipeline, print a summary.

Bad input raises :class:`~neurocine.errors.InputError`; the CLI prints its one
line and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from neurocine.errors import InputError
from neurocine.runtime import set_quiet

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="neurocine: link video and neural recordings.")
motifs_app = typer.Typer(no_args_is_help=True, help="Conv-NMF motif discovery in multichannel time series.")
screenome_app = typer.Typer(no_args_is_help=True, help="Phone-screen (screenome) event logs.")
app.add_typer(motifs_app, name="motifs")
app.add_typer(screenome_app, name="screenome")


@app.callback()
def _root(quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars.")) -> None:
    set_quiet(quiet)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the console script."""
    import click

    try:
        app(args=argv, standalone_mode=False, prog_name="neurocine")
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
