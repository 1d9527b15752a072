"""`cnnkit visualize ...`: each command writes a PNG and prints its path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer(name="visualize", help="Figures from checkpoints and runs (PNG files, no display needed).", no_args_is_help=True)

OutOpt = Annotated[Optional[str], typer.Option("--out", "-o", help="PNG file to write.")]


def _done(path: Path, json_: bool, **extra) -> None:
    if json_:
        print_json({"path": str(path), **extra})
    else:
        typer.echo(str(path))


@app.command()
def curves(
    runs: Annotated[list[str], typer.Argument(help="Run directories (each with metrics.csv).")],
    metric: Annotated[Optional[str], typer.Option("--metric", help="accuracy, dice, pixel_accuracy, ... (default: from the runs).")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Loss and metric curves of one or several runs, overlaid (train dashed, validation solid).

    Example: cnnkit visualize curves runs/adam runs/sgd --out adam-vs-sgd.png
    """
    from cnnkit.engine.rundir import read_metrics
    from cnnkit.errors import CnnkitError
    from cnnkit.viz.curves import plot_curves

    data = {}
    for r in runs:
        f = Path(r) / "metrics.csv"
        if not f.is_file():
            raise CnnkitError(f"{r} has no metrics.csv; give run directories written by `cnnkit train`")
        label = Path(r).resolve().name
        data[label if label not in data else str(r)] = read_metrics(f)
    keys = {k for rows in data.values() for row in rows for k in row}
    chosen = metric or next((m for m in ("accuracy", "dice", "pixel_accuracy") if f"val_{m}" in keys or f"train_{m}" in keys), "accuracy")
    if f"val_{chosen}" not in keys and f"train_{chosen}" not in keys:
        raise CnnkitError(f"no {chosen!r} column in these runs; columns: {', '.join(sorted(keys))}")
    path = plot_curves(data, out or (Path(runs[0]) / "curves-compare.png" if len(runs) > 1 else Path(runs[0]) / "curves.png"), chosen)
    _done(path, json_, metric=chosen, runs=list(data))


@app.command()
def filters(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    layer: Annotated[Optional[str], typer.Option("--layer", help="A conv layer (default: the model's first conv).")] = None,
    per_filter: Annotated[bool, typer.Option("--per-filter", help="Scale each filter on its own (hides relative strength).")] = False,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Conv filters as a grid: RGB for the first layer, per input channel deeper; symmetric scale, dead filters marked.

    Example: cnnkit visualize filters runs/convnet/best.pt
    """
    from cnnkit.engine.checkpoint import load_checkpoint, model_from_checkpoint
    from cnnkit.registry import get_spec
    from cnnkit.viz.filters import conv_weights, dead_filters, plot_filters

    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    name = layer or get_spec(ckpt["model"]["name"]).first_conv
    weights = conv_weights(model, name)
    dead = dead_filters(weights)
    path = plot_filters(weights, out or Path(checkpoint).with_name(f"{Path(checkpoint).stem}-filters-{name}.png"),
                        f"{ckpt['model']['name']} {name}", per_filter, dead)
    _done(path, json_, layer=name, shape=list(weights.shape), dead_filters=[int(i) for i in dead.nonzero().flatten()])
