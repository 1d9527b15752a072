"""`cnnkit models` and `cnnkit summary`: the registry and one model's layers."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.arith.parse import format_sizes
from cnnkit.cli.options import MODEL_HELP, JsonOpt, ModelRefOpt, TrustOpt, parse_model_options, print_json

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
    from cnnkit.api.zoo import models as list_registered

    result = list_registered(pattern, task)
    if json_:
        print_json(result)
        return
    from rich.markup import escape
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    table = Table()
    for col in ("name", "task", "input", "classes", "description"):
        table.add_column(col, no_wrap=col != "description")
    for m in result["models"]:  # descriptions hold [brackets]: escaped, not read as Rich markup
        table.add_row(m["name"], m["task"], format_sizes(m["input_shape"]), str(m["num_classes"]), escape(m["description"]))
    stdout_console().print(table)


@app.command()
def summary(
    model: Annotated[str, typer.Argument(help=MODEL_HELP + " Or a checkpoint file (cnnkit's, or a state dict from your own loop).")],
    input_shape: Annotated[Optional[str], typer.Option("--input", help="Input shape CxHxW (default: the model's; 3x32x32 for your own class).")] = None,
    classes: Annotated[Optional[int], typer.Option("--classes", help="Number of classes (default: the model's).")] = None,
    opt: OptOpt = None,
    depth: Annotated[Optional[int], typer.Option("--depth", help="Collapse nesting below this depth (1 = top-level blocks).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Batch size for the training-memory estimate.")] = 32,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer for the memory estimate: sgd, momentum, adam, ...")] = "sgd",
    network: ModelRefOpt = None,
    trust: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Per-layer table of a model: shapes, parameters (trainable/frozen), MACs, FLOPs, receptive field.

    RF: the largest box of input pixels any one output position of the layer depends on,
    per axis (never more than the image; through residual adds and skip concatenations,
    the union of the paths), as `cnnkit layers` reports it. Blank after flatten/linear
    and layers it cannot follow.

    Example: cnnkit summary resnet18 --input 3x224x224

    Example: cnnkit summary unet --opt depth=3 --opt upsampling=transpose --depth 1

    Example: cnnkit summary runs/convnet/best.pt

    Example: cnnkit summary my_net.py:Net1 --opt width=16   (your own class; loading the file runs its code)

    Example: cnnkit summary "3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10"

    Example: cnnkit summary sd.pt --input 3x32x32   (a state dict from your own loop: its model is found from the weights)
    """
    from cnnkit.api.zoo import summary as summarize

    result = summarize(model, input_shape, classes, parse_model_options(opt) or None, depth, batch, optimizer, network, trust)
    if json_:
        print_json(result)
        return
    _render(result)


def _render(r: dict) -> None:
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    table = Table(title=f"{r['model']}  input {format_sizes(r['input_shape'])} -> output {format_sizes(r['output_shape'])}",
                  title_justify="left")
    for col, justify in [("layer", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                         ("MACs", "right"), ("RF in image", "right"), ("RF textbook", "right")]:
        table.add_column(col, justify=justify, no_wrap=True)
    for row in r["layers"]:
        frozen = row["frozen_params"]
        params = f"{row['params']:,}" + (f" ({frozen:,} frozen)" if frozen else "") + (" shared" if row["shared"] else "")
        rf = "" if row["receptive_field"] is None else format_sizes([int(v) for v in row["receptive_field"]])
        textbook = row.get("textbook_receptive_field")
        tb = "" if textbook is None else "x".join(f"{v:g}" for v in textbook)
        table.add_row(row["name"], row["type"], format_sizes(row["output_shape"][1:]) if row["output_shape"] else "?", params,
                      f"{row['macs']:,}" if row["macs"] else "", rf, tb)
    console = stdout_console()
    console.print(table)
    memory = r["training_memory_bytes"]
    console.print(f"params: {r['total_params']:,} total, {r['trainable_params']:,} trainable, {r['frozen_params']:,} frozen")
    console.print(f"MACs: {r['total_macs']:,} per image (conv/linear); FLOPs = 2 x MACs = {r['total_flops']:,}")
    console.print(f"model size: {r['size_mb']:.2f} MB (parameters and buffers)")
    console.print(f"training memory (batch {memory['batch']}, {memory['optimizer']}, fp32, estimate): {memory['total'] / 2**20:.1f} MiB")
    console.print("RF in image: receptive field, the largest footprint of any position on this input (pixels, clipped by "
                  "padding and the image border), as `cnnkit layers`; RF textbook: RF += (k-1)·d·jump along the widest "
                  "path, never clipped; blank after flatten/linear (every input pixel) or where it cannot be followed")
    for n in r["notes"]:
        console.print(n)
