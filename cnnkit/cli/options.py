"""Options shared by several commands, defined once as Annotated aliases."""

from __future__ import annotations

import json
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout and nothing else.")]


def print_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))
