"""The root `cnnkit` app: only wiring. Each command group lives in its own module.

Command modules import heavy libraries (torch, matplotlib) inside their command
functions, so that `cnnkit shape` never pays for them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cnnkit import __version__
from cnnkit.cli import arith, data, draw, experiments, explore, models, scratch, train, viz
from cnnkit.cli.errors import CnnkitGroup

app = typer.Typer(
    cls=CnnkitGroup,
    name="cnnkit",
    help="cnnkit: conv arithmetic, training, visualisation and gradient checking for CNN coursework.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: spec grammar like "conv C [kK sS]" must not be read as markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks (also CNNKIT_DEBUG=1).")] = False,
) -> None:
    """cnnkit: conv arithmetic, models, training and visualisation for CNN coursework."""


app.add_typer(arith.app)
app.add_typer(draw.app)
app.add_typer(models.app)
app.add_typer(data.app)
app.add_typer(train.app)
app.add_typer(scratch.app)
app.add_typer(viz.app)
app.add_typer(experiments.app)
app.add_typer(explore.app)


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m cnnkit.cli.main ...` runs the CLI too, as `python -m cnnkit` does
    main()
