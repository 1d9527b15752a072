"""Options shared by several commands, defined once as Annotated aliases."""

from __future__ import annotations

import json
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout and nothing else.")]


def print_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def parse_model_options(items: list[str] | None) -> dict:
    """['depth=3', 'upsampling=nearest', 'widths=(16,32)'] -> {'depth': 3, ...}.

    Values are Python literals where they parse as one (numbers, booleans, tuples),
    otherwise strings.
    """
    import ast

    from cnnkit.errors import SpecError

    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"model option {item!r} must look like key=value, e.g. --opt depth=3")
        text = value.strip()
        if text.lower() in ("true", "false"):
            options[key.strip()] = text.lower() == "true"
            continue
        try:
            options[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key.strip()] = text
    return options
