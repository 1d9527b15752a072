"""`cnnkit models` and `cnnkit summary`: the registry and one model's layers."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.arith.parse import format_sizes, parse_sizes
from cnnkit.cli.options import JsonOpt, parse_model_options, print_json
from cnnkit.errors import SpecError

app = typer.Typer()

OptOpt = Annotated[Optional[list[str]], typer.Option("--opt", help="Model option key=value (repeatable), e.g. --opt depth=3.")]


@app.command()
def models(
    pattern: Annotated[str, typer.Argument(help="Shell-style name pattern, e.g. 'resnet*'.")] = "*",
    task: Annotated[Optional[str], typer.Option("--task", help="classification or segmentation.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List the registered models.

    Example: cnnkit models 'resnet*' --task classification
    """
    from cnnkit.registry import get_spec, list_models

    specs = [get_spec(n) for n in list_models(pattern, task)]
    if json_:
        print_json({"models": [dict(s.as_dict(), options=s.options()) for s in specs]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("name", "task", "input", "classes", "description"):
        table.add_column(col, no_wrap=col != "description")
    for s in specs:
        table.add_row(s.name, s.task, format_sizes(s.input_shape), str(s.num_classes), s.description)
    Console().print(table)


@app.command()
def summary(
    model: Annotated[str, typer.Argument(help="A registered model name (see `cnnkit models`) or a checkpoint file.")],
    input_shape: Annotated[Optional[str], typer.Option("--input", help="Input shape CxHxW (default: the model's).")] = None,
    classes: Annotated[Optional[int], typer.Option("--classes", help="Number of classes (default: the model's).")] = None,
    opt: OptOpt = None,
    depth: Annotated[Optional[int], typer.Option("--depth", help="Collapse nesting below this depth (1 = top-level blocks).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Batch size for the training-memory estimate.")] = 32,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer for the memory estimate: sgd, momentum, adam, ...")] = "sgd",
    json_: JsonOpt = False,
) -> None:
    """Per-layer table of a model: shapes, parameters (trainable/frozen), MACs, FLOPs, receptive field.

    Example: cnnkit summary resnet18 --input 3x224x224

    Example: cnnkit summary unet --opt depth=3 --opt upsampling=transpose --depth 1

    Example: cnnkit summary runs/convnet/best.pt
    """
    from cnnkit.model_summary import collapse, summarize

    net, shape = _model_and_shape(model, input_shape, classes, opt)
    result = _run_summary(summarize, net, shape, model)
    rows = collapse(result, depth) if depth else [r for r in result.rows if r.leaf]
    memory = result.memory(batch, optimizer)
    if json_:
        data = result.as_dict()
        data["model"] = model
        data["layers"] = [r.as_dict() for r in rows]
        data["training_memory_bytes"] = dict(memory, batch=batch, optimizer=optimizer)
        print_json(data)
        return
    _render(model, result, rows, memory, batch, optimizer)


def _model_and_shape(model: str, input_shape, classes, opt):
    """(network, input shape) from a registry name or a checkpoint path."""
    from pathlib import Path

    from cnnkit.registry import create_for_input, get_spec

    if Path(model).suffix in (".pt", ".pth") or Path(model).exists():
        from cnnkit.engine.checkpoint import load_checkpoint, model_from_checkpoint

        if classes is not None or opt:
            raise SpecError("--classes and --opt do not apply to a checkpoint: it stores its own model options")
        ckpt = load_checkpoint(model)
        shape = parse_sizes(input_shape, "input shape") if input_shape else tuple(ckpt["input_shape"])
        return model_from_checkpoint(ckpt), shape
    spec = get_spec(model)
    shape = parse_sizes(input_shape, "input shape") if input_shape else spec.input_shape
    if len(shape) != 3:
        raise SpecError(f"--input must be C x H x W, e.g. {format_sizes(spec.input_shape)}")
    return create_for_input(model, shape, classes, **parse_model_options(opt)), shape


def _run_summary(summarize, net, shape, name):
    try:
        return summarize(net, shape)
    except RuntimeError as e:  # a shape the model cannot take
        first = str(e).splitlines()[0]
        raise SpecError(f"{name} cannot run on input {format_sizes(shape)}: {first}") from None


def _render(name, result, rows, memory, batch, optimizer) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}  input {format_sizes(result.input_shape)} -> output {format_sizes(result.output_shape)}",
                  title_justify="left")
    for col, justify in [("layer", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                         ("MACs", "right"), ("RF", "right")]:
        table.add_column(col, justify=justify, no_wrap=True)
    for r in rows:
        frozen = r.params - r.trainable
        params = f"{r.params:,}" + (f" ({frozen:,} frozen)" if frozen else "") + (" shared" if r.shared else "")
        rf = "" if r.receptive_field is None else format_sizes([int(v) for v in r.receptive_field])
        table.add_row(r.name, r.type, format_sizes(r.output_shape[1:]) if r.output_shape else "?", params,
                      f"{r.macs:,}" if r.macs else "", rf)
    console = Console()
    console.print(table)
    frozen = result.total_params - result.trainable_params
    console.print(f"params: {result.total_params:,} total, {result.trainable_params:,} trainable, {frozen:,} frozen")
    console.print(f"MACs: {result.total_macs:,} per image (conv/linear); FLOPs = 2 x MACs = {2 * result.total_macs:,}")
    console.print(f"model size: {result.size_bytes / 2**20:.2f} MB (parameters and buffers)")
    console.print(f"training memory (batch {batch}, {optimizer}, fp32, estimate): {memory['total'] / 2**20:.1f} MiB")
    for n in result.notes:
        console.print(n)
