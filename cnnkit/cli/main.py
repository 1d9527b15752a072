"""The root `cnnkit` app: only wiring. Each command group lives in its own module.

Command modules import heavy libraries (torch, matplotlib) inside their command
functions, and the program imports only the module of the command it runs, so that
`cnnkit shape` never pays for them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from cnnkit import __version__
from cnnkit.cli.errors import CnnkitGroup

# the command modules in the order `cnnkit --help` lists them, and the one holding each top-level
# command: the real program imports only the module of the command it runs, so `cnnkit shape` never
# builds `cnnkit train`'s sixty flags (tests/cli/test_main.py checks the table against the full app)
MODULES = ("arith", "draw", "models", "data", "train", "scratch", "viz", "experiments", "explore")
COMMAND_MODULES = {"shape": "arith", "solve": "arith", "layers": "arith", "conv": "arith", "draw": "draw",
                   "models": "models", "summary": "models", "data": "data", "train": "train", "evaluate": "train",
                   "predict": "train", "gradcheck": "scratch", "visualize": "viz", "sweep": "experiments",
                   "compare": "experiments", "report": "experiments", "explore": "explore"}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnkit {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks (also CNNKIT_DEBUG=1).")] = False,
) -> None:
    """cnnkit: conv arithmetic, models, training and visualisation for CNN coursework."""


def make_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The root app with the commands of `modules` (all of them unless told)."""
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
    app.callback()(root)
    for name in modules:
        app.add_typer(importlib.import_module(f"cnnkit.cli.{name}").app)
    return app


def __getattr__(name: str):
    # `from cnnkit.cli.main import app`: every command (CliRunner tests, the Python user)
    if name == "app":
        globals()["app"] = make_app()
        return globals()["app"]
    raise AttributeError(name)


def command_word(args: list[str]) -> str | None:
    """The command a command line runs: the first word that is not a root option (--debug)."""
    return next((a for a in args if not a.startswith("-")), None)


def main() -> None:
    # a known command: only its module; anything else (--help, a typo to suggest a name for): all
    module = COMMAND_MODULES.get(command_word(sys.argv[1:]))
    make_app((module,) if module else MODULES)()


if __name__ == "__main__":  # `python -m cnnkit.cli.main ...` runs the CLI too, as `python -m cnnkit` does
    main()
