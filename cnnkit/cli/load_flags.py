"""The flags that read a checkpoint from another training loop (--model, --opt, --input,
--mean, --std, --classes, --trust-checkpoint), declared once: `@with_load_flags` gives a
command all seven, in one place in its --help, and hands its function one `load` dict,
the keyword arguments of the cnnkit.api function it calls (cnnkit.load's `**load`)."""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Optional

import typer

from cnnkit.cli.options import ClassesOpt, InputShapeOpt, LoadOptOpt, MeanOpt, ModelRefOpt, StdOpt, TrustOpt, load_flags

# (parameter name, its Annotated option, default), in --help order
_FLAGS = (("model", ModelRefOpt, None), ("opt", LoadOptOpt, None), ("input_shape", InputShapeOpt, None),
          ("mean", MeanOpt, None), ("std", StdOpt, None), ("classes", ClassesOpt, None), ("trust", TrustOpt, False))

# --dataset of a figure that searches training images (maximize, deconv)
SearchDatasetOpt = Annotated[Optional[str], typer.Option(
    "--dataset", "-d", help="Search this dataset's images instead of the recorded one (weights from your own loop record "
                            "none), e.g. --dataset folder:../shared/data/cifar10.")]


def with_load_flags(command):
    """Decorate a command whose function takes `load: dict`: Typer sees the seven flags in its
    place (before --json when the command has one); the function gets them as `load`."""
    sig = inspect.signature(command, eval_str=True)  # the command module's string annotations, resolved
    kept = [p for p in sig.parameters.values() if p.name != "load"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=alias)
             for name, alias, default in _FLAGS]
    at = next((i for i, p in enumerate(kept) if p.name == "json_"), len(kept))
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept[:at]] + added + \
             [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept[at:]]

    @functools.wraps(command)
    def wrapper(**kwargs):
        flags = {name: kwargs.pop(name) for name, _, _ in _FLAGS}
        return command(**kwargs, load=load_flags(**flags))

    wrapper.__signature__ = sig.replace(parameters=params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer reads the signature above, not the function's own
    return wrapper
