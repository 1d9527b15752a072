"""`cnnkit visualize ...`: each command calls the cnnkit.api.visualize function of the same
name (which computes, draws and saves) and prints the PNG's path, or its --json dict."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.load_flags import SearchDatasetOpt, with_load_flags
from cnnkit.cli.options import (
    JsonOpt,
    TrustOpt,
    print_written,
)

app = typer.Typer(name="visualize", help="Figures from checkpoints and runs (PNG files, no display needed).", no_args_is_help=True)

OutOpt = Annotated[Optional[str], typer.Option("--out", "-o", help="PNG file to write (default: next to the checkpoint or run); never one of the inputs or a file of yours, an earlier cnnkit figure is replaced. Example: --out filters.png")]


def _done(fig, json_: bool) -> None:
    """Render: the --json dict, or any preprocessing notes and then the path."""
    print_written(fig.cnnkit, json_)


@app.command()
def curves(
    runs: Annotated[list[str], typer.Argument(help="Run directories (each with metrics.csv), or sweep / --trials folders "
                                                   "(one line per variant: the mean over trials, a band from lowest to highest).")],
    metric: Annotated[Optional[str], typer.Option("--metric", help="accuracy, dice, pixel_accuracy, ... (default: from the runs).")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Loss and metric curves of one or several runs, overlaid (train dashed, validation solid).

    Example: cnnkit visualize curves runs/adam runs/sgd --out adam-vs-sgd.png

    Example: cnnkit visualize curves sweeps/convnet-shapes   (writes sweeps/convnet-shapes/curves-variants.png)
    """
    from cnnkit.api import visualize

    _done(visualize.curves(runs, metric, out=out or True), json_)


@app.command()
def filters(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    layer: Annotated[Optional[str], typer.Option("--layer", help="A conv layer (default: the model's first conv).")] = None,
    per_filter: Annotated[bool, typer.Option("--per-filter", help="Scale each filter on its own (hides relative strength).")] = False,
    out: OutOpt = None,
    trust: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Conv filters as a grid: RGB for the first layer, per input channel deeper; symmetric scale, dead filters marked.

    Drawn from the weights alone, so any state dict works (torch.save(model.state_dict(), "ckpt.pt") in your own
    loop): every 4-D weight is a conv layer, named by its key without ".weight"; a wrong --layer lists them.

    Example: cnnkit visualize filters runs/convnet/best.pt --json

    Example: cnnkit visualize filters ckpt.pt --layer feature_extractor.0
    """
    from cnnkit.api import visualize

    _done(visualize.filters(checkpoint, layer, per_filter, out=out or True, trust_checkpoint=trust), json_)


@app.command()
@with_load_flags
def features(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    image: Annotated[str, typer.Argument(help="An image file (preprocessed exactly as in training).")],
    layer: Annotated[Optional[list[str]], typer.Option("--layer", help="Layer name (repeatable); default: the first conv and the last map larger than 1x1.")] = None,
    top: Annotated[int, typer.Option("--top", help="Channels shown per layer: the strongest by mean activation.")] = 16,
    out: OutOpt = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Activations of one or more layers for one image, one panel per channel.

    Example: cnnkit visualize features runs/convnet/best.pt cat.png --layer features.act1 --layer features.act3
    """
    from cnnkit.api import visualize

    _done(visualize.features(checkpoint, image, layer, top, out=out or True, **load), json_)


@app.command()
@with_load_flags
def segmentation(
    checkpoint: Annotated[str, typer.Argument(help="A segmentation checkpoint.")],
    image: Annotated[str, typer.Argument(help="An image file (resized to the training --image-size, as evaluate does).")],
    mask: Annotated[Optional[str], typer.Option("--mask", help="The true mask (class indices; 0/255 means 0/1 for a 2-class model): adds Dice/IoU.")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Image, true mask, predicted mask and overlay in one palette (grey = ignored); Dice/IoU when the true mask is given.

    Example: cnnkit visualize segmentation runs/unet/best.pt slice.png --mask slice_mask.png --json
    """
    from cnnkit.api import visualize

    _done(visualize.segmentation(checkpoint, image, mask, out=out or True, **load), json_)


@app.command()
@with_load_flags
def attribution(
    checkpoint: Annotated[str, typer.Argument(help="A classification checkpoint.")],
    image: Annotated[str, typer.Argument(help="An image file (preprocessed exactly as in training).")],
    method: Annotated[str, typer.Option("--method", help="saliency, guided-backprop, deconvolution, gradcam, integrated-gradients, occlusion.")] = "saliency",
    target: Annotated[Optional[int], typer.Option("--target", help="Class index to explain (default: the predicted class).")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Grad-CAM layer (default: the spec's gradcam_layer, or the last map larger than 1x1).")] = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Why the model decided: an attribution map (Captum) next to and over the image.

    Example: cnnkit visualize attribution runs/convnet/best.pt cat.png --method gradcam --json
    """
    from cnnkit.api import visualize

    _done(visualize.attribution(checkpoint, image, method, target, layer, out=out or True,
                                    **load), json_)


@app.command()
@with_load_flags
def maximize(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    layer: Annotated[Optional[str], typer.Option("--layer", help="Layer whose channel to maximise (with --channel).")] = None,
    channel: Annotated[Optional[int], typer.Option("--channel", help="Channel of --layer.")] = None,
    channels: Annotated[Optional[str], typer.Option("--channels", help="Many channels of --layer in one grid, optimised as one batch, e.g. --channels 0-15 or 0,4,9.")] = None,
    class_index: Annotated[Optional[int], typer.Option("--class", help="Maximise this class's logit instead (classification models).")] = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Independent random starting images (default 3; --channels uses one shared start).")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Gradient-ascent steps.")] = 128,
    top: Annotated[int, typer.Option("--top", help="Training images that activate it most (0 = none); with --channels, the strongest one per channel.")] = 8,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Data root of the training data.")] = None,
    dataset: SearchDatasetOpt = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """What a channel (or class) responds to: gradient ascent with jitter, blur and decay, next to the training images that activate it most.

    Example: cnnkit visualize maximize runs/convnet/best.pt --class 9 --json

    Example: cnnkit visualize maximize runs/convnet/best.pt --layer features.conv2 --channels 0-15
    """
    from cnnkit.api import visualize

    _done(visualize.maximize(checkpoint, layer, channel, class_index, seeds, steps, top, data_dir, out=out or True,
                             channels=channels, dataset=dataset, **load), json_)


@app.command()
@with_load_flags
def deconv(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train (a network with ReLU layers).")],
    image: Annotated[Optional[str], typer.Argument(help="An image file; without it, the top --top images of the dataset's --split.")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="The layer of the unit, e.g. features.act3.")] = None,
    channel: Annotated[Optional[int], typer.Option("--channel", help="Its channel; the strongest position of it is projected.")] = None,
    top: Annotated[int, typer.Option("--top", help="Without IMAGE: how many of the most strongly activating images, e.g. --top 6.")] = 4,
    split: Annotated[str, typer.Option("--split", help="Without IMAGE: search the test or train split, e.g. --split train.")] = "test",
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Data root of the training data.")] = None,
    dataset: SearchDatasetOpt = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Zeiler-Fergus deconvnet of one unit beside guided backprop of it: the channel's strongest activation projected back to pixels, its receptive field boxed.

    Example: cnnkit visualize deconv runs/convnet/best.pt --layer features.act3 --channel 5 --top 4

    Example: cnnkit visualize deconv runs/convnet/best.pt cat.png --layer features.act2 --channel 0 --json
    """
    from cnnkit.api import visualize

    _done(visualize.deconv(checkpoint, layer, channel, image, top, split, data_dir, out=out or True, dataset=dataset,
                             **load), json_)
