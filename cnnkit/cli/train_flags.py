"""The training options as command-line flags, built from their one declaration
(engine/config.OPTIONS: flag, kind, help): the parameters of `cnnkit train`, and the
parser of the "--lr 0.1 --opt depth=3 --tta" training flags a sweep passes on, the same
click options, so both read a flag alike.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Optional

import typer

from cnnkit.engine.config import FLAG, KEY_VALUES, NUMBER, OPTIONS, SIZE, SWITCH, WHOLE, parse_value

_TYPES = {NUMBER: Optional[float], WHOLE: Optional[int], SWITCH: Optional[bool], FLAG: bool,
          KEY_VALUES: Optional[list[str]]}  # the rest: Optional[str]


def flag_parameters(names, shown: bool = True) -> list[inspect.Parameter]:
    """One Typer option per training option in `names`. shown: with the command's own
    defaults (--device auto); a sweep's flags have none, so only what was typed is set."""
    params = []
    for name in names:
        o = OPTIONS[name]
        decls = (f"{o.flag}/{o.off or '--no-' + o.flag[2:]}",) if o.kind == SWITCH else (o.flags or (o.flag,))
        default = False if o.kind == FLAG else (o.shown if shown else None)
        annotation = Annotated[_TYPES.get(o.kind, Optional[str]), typer.Option(*decls, help=o.help)]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return params


def given_options(values: dict) -> dict:
    """Click's values as `cnnkit.train` takes them: a flag not given is None (not False),
    --opt key=value pairs a dict, a size [h, w]."""
    from cnnkit.cli.options import parse_model_options

    out = {}
    for name, value in values.items():
        kind = OPTIONS[name].kind
        if kind == FLAG:
            value = value or None
        elif kind == KEY_VALUES:
            value = parse_model_options(value) or None
        elif kind == SIZE:
            value = parse_value(name, value)
        out[name] = value
    return out


def parse_flags(args: list[str], names) -> dict:
    """['--epochs', '3', '--opt', 'depth=2', '--tta'] -> {'epochs': 3.0, 'model_options': {'depth': 2}, 'tta': True}:
    the options among `names` that were given, parsed by the click options `cnnkit train` has."""
    from cnnkit.cli.errors import ClickException
    from cnnkit.errors import CnnkitError

    def given(**values):
        return values

    given.__signature__ = inspect.Signature(flag_parameters(names, shown=False))
    parser = typer.Typer(add_completion=False)
    parser.command(context_settings={"help_option_names": []})(given)
    try:
        ctx = typer.main.get_command(parser).make_context("training options", list(args))
    except ClickException as e:
        raise CnnkitError(f"{e.format_message().rstrip('.')}; training options are `cnnkit train`'s, e.g. --epochs 3 --lr 0.01 "
                          "(see `cnnkit train --help`)") from None
    return {k: v for k, v in given_options(ctx.params).items() if v is not None}
