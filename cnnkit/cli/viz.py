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


@app.command()
def features(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    image: Annotated[str, typer.Argument(help="An image file (preprocessed exactly as in training).")],
    layer: Annotated[Optional[list[str]], typer.Option("--layer", help="Layer name (repeatable); default: the first conv and the last feature map.")] = None,
    top: Annotated[int, typer.Option("--top", help="Channels shown per layer: the strongest by mean activation.")] = 16,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Activations of one or more layers for one image, one panel per channel.

    Example: cnnkit visualize features runs/convnet/best.pt cat.png --layer features.act1 --layer features.act3
    """
    from cnnkit.engine.evaluate import load_for_inference, prepare_image
    from cnnkit.registry import get_spec
    from cnnkit.viz.features import feature_maps, plot_feature_maps

    ckpt, model, dev = load_for_inference(checkpoint, "cpu")
    spec = get_spec(ckpt["model"]["name"])
    layers = layer or list(dict.fromkeys([spec.first_conv, spec.gradcam_layer]))
    x, img = prepare_image(ckpt, image)
    maps = feature_maps(model, x, layers)
    path = plot_feature_maps(maps, out or Path(checkpoint).with_name(f"{Path(image).stem}-features.png"), top, img)
    _done(path, json_, layers={n: list(m.shape) for n, m in maps.items()})


@app.command()
def segmentation(
    checkpoint: Annotated[str, typer.Argument(help="A segmentation checkpoint.")],
    image: Annotated[str, typer.Argument(help="An image file.")],
    mask: Annotated[Optional[str], typer.Option("--mask", help="The true mask (class indices; 0/255 means 0/1), for Dice/IoU in the title.")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Image, true mask, predicted mask and overlay with one palette; Dice/IoU when the true mask is given.

    Example: cnnkit visualize segmentation runs/unet/best.pt slice.png --mask slice_mask.png
    """
    from cnnkit.engine.evaluate import load_for_inference, segment_image
    from cnnkit.viz.segmentation import plot_segmentation

    ckpt, model, _ = load_for_inference(checkpoint, "cpu")
    r = segment_image(ckpt, model, image, mask)
    img, pred, truth, scores, names = r["image"], r["pred"], r["truth"], r["scores"], ckpt["class_names"] or []
    path = plot_segmentation(img, pred, out or Path(checkpoint).with_name(f"{Path(image).stem}-segmentation.png"), names, truth, scores)
    _done(path, json_, **(scores or {}))


@app.command()
def attribution(
    checkpoint: Annotated[str, typer.Argument(help="A classification checkpoint.")],
    image: Annotated[str, typer.Argument(help="An image file (preprocessed exactly as in training).")],
    method: Annotated[str, typer.Option("--method", help="saliency, guided-backprop, deconvolution, gradcam, integrated-gradients, occlusion.")] = "saliency",
    target: Annotated[Optional[int], typer.Option("--target", help="Class index to explain (default: the predicted class).")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Grad-CAM layer (default: the model spec's gradcam_layer).")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Why the model decided: an attribution map (Captum) next to and over the image.

    Example: cnnkit visualize attribution runs/convnet/best.pt cat.png --method gradcam
    """
    from cnnkit.engine.evaluate import explain_image, load_for_inference
    from cnnkit.viz.attribution import plot_attribution

    ckpt, model, _ = load_for_inference(checkpoint, "cpu")
    r = explain_image(ckpt, model, image, method, target, layer)
    title = f"{method} for class {r['target_name']} (p = {r['probability']:.2f}; predicted {r['predicted_name']})"
    path = plot_attribution(r["image"], r["map"], out or Path(checkpoint).with_name(f"{Path(image).stem}-{method}.png"), title)
    _done(path, json_, method=method, target=r["target"], target_name=r["target_name"], probability=r["probability"])


@app.command()
def maximize(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    layer: Annotated[Optional[str], typer.Option("--layer", help="Layer whose channel to maximise (with --channel).")] = None,
    channel: Annotated[Optional[int], typer.Option("--channel", help="Channel of --layer.")] = None,
    class_index: Annotated[Optional[int], typer.Option("--class", help="Maximise this class's logit instead.")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Independent starting points.")] = 3,
    steps: Annotated[int, typer.Option("--steps", help="Gradient-ascent steps.")] = 128,
    top: Annotated[int, typer.Option("--top", help="Training images that activate it most (0 = none).")] = 8,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Data root of the training data.")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """What a channel (or class) responds to: gradient ascent with jitter, blur and decay, next to the training images that activate it most.

    Example: cnnkit visualize maximize runs/convnet/best.pt --layer features.conv2 --channel 5
    """
    from cnnkit.engine.evaluate import load_for_inference, training_images
    from cnnkit.errors import CnnkitError
    from cnnkit.viz.maximize import maximize as run_maximize
    from cnnkit.viz.maximize import plot_maximize, top_activating

    ckpt, model, _ = load_for_inference(checkpoint, "cpu")
    if class_index is None and (layer is None or channel is None):
        raise CnnkitError("give --layer NAME --channel C, or --class K")
    norm = ckpt["normalization"] or {"mean": [0.5] * ckpt["input_shape"][0], "std": [0.5] * ckpt["input_shape"][0]}
    result = run_maximize(model, ckpt["input_shape"], norm, layer, channel, class_index, seeds, steps)
    top_images = top_scores = None
    pool = training_images(ckpt, data_dir) if top else None
    if pool is not None:
        top_images, top_scores = top_activating(model, pool, norm, layer, channel, class_index, top)
    what = f"class {class_index}" if class_index is not None else f"{layer} channel {channel}"
    default = Path(checkpoint).with_name(f"{Path(checkpoint).stem}-maximize-{what.replace(' ', '-')}.png")
    path = plot_maximize(result, top_images, top_scores, out or default, f"{ckpt['model']['name']}: {what}")
    _done(path, json_, scores=[float(s) for s in result["scores"]], random_scores=[float(s) for s in result["random_scores"]])
