"""`cnnkit train`, `cnnkit evaluate`, `cnnkit predict`: parse, one library call, render."""

from __future__ import annotations

import inspect
from typing import Annotated, Optional

import typer

from cnnkit.cli.load_flags import with_load_flags
from cnnkit.cli.options import (
    MODEL_HELP,
    DataDirOpt,
    JsonOpt,
    print_json,
    print_notes,
)
from cnnkit.cli.train_flags import flag_parameters, given_options
from cnnkit.engine.config import OPTIONS

app = typer.Typer()

Opt = typer.Option
OptionalStr = Optional[str]


def _own(
    model: Annotated[OptionalStr, typer.Argument(help=MODEL_HELP + " Not needed with --resume.")] = None,
    nproc: Annotated[int, Opt("--nproc", help="Data-parallel over N processes on this machine (runs torchrun; one per GPU, or CPU with gloo), e.g. --nproc 4.")] = 1,
    trials: Annotated[int, Opt("--trials", help="Train K times with seeds seed..seed+K-1 and report mean +/- std, e.g. --trials 3.")] = 1,
    resume: Annotated[OptionalStr, Opt("--resume", help="Continue the run in this directory from its last.pt, e.g. --resume runs/a --epochs 20.")] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Reuse an --out folder that already holds a run: deletes only the files cnnkit listed there (docs/files.md), never yours. Example: --out runs/a --overwrite")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
    json_: JsonOpt = False,
) -> None:
    """The command's own parameters; the training options come from their declaration (engine/config.py)."""


_OWN = {name: p.replace(kind=p.KEYWORD_ONLY) for name, p in inspect.signature(_own, eval_str=True).parameters.items()}


def train(**given) -> None:
    """Train a model; writes config.json, metrics.csv, last.pt, best.pt, curves.png, summary.json.

    Example: cnnkit train convnet --dataset folder:../shared/data/cifar10 --epochs 10

    Example: cnnkit train unet --dataset segfolder:../shared/data/membrane --image-size 256 --epochs 30

    Example: cnnkit train --resume runs/convnet-cifar10-20261123-101500

    Example: cnnkit train my_net.py:Net1 -d folder:../shared/data/cifar10 -e 10   (your own class; the run keeps a copy of my_net.py)

    Example: cnnkit train "3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 4" -d shapes -e 2

    Example: cnnkit train convnet -d shapes -e 3 --log tensorboard   (then: tensorboard --logdir runs)

    Example: cnnkit train airbench -d folder:../shared/data/cifar10 --recipe cifar-speedrun --val-split 0 --no-lookahead

    Example: cnnkit train resnet18 -d cifar10 --nproc 4   (or: torchrun --nproc-per-node 4 -m cnnkit train resnet18 -d cifar10)
    """
    import os
    import sys

    from cnnkit.cli.progress import make_progress

    own = {name: given.pop(name) for name in _OWN}
    if own["nproc"] != 1 and "WORLD_SIZE" not in os.environ:  # launch the job; torchrun starts this command again N times
        _launch(own["nproc"])
        return
    is_main = os.environ.get("RANK", "0") == "0"
    progress = make_progress(own["quiet"] or own["json_"] or not is_main)
    if not is_main:  # one report per job: the other ranks print nothing
        sys.stdout = open(os.devnull, "w")
    try:
        _train(progress, own, given_options(given), own["json_"] and is_main)
    finally:
        getattr(progress, "close", lambda: None)()  # leave the terminal clean after Ctrl-C or an error
        if "WORLD_SIZE" in os.environ:
            from cnnkit.engine.distributed import shutdown

            shutdown()


# the signature Typer reads: the model, every training option (in the order of TrainConfig's fields), the command's own
train.__signature__ = inspect.Signature([_OWN["model"], *flag_parameters(OPTIONS), *list(_OWN.values())[1:]])
app.command()(train)


def _launch(nproc: int) -> None:
    """Run this same command under torchrun with `nproc` processes and leave with its exit code."""
    import sys

    from cnnkit.engine.distributed import launch

    argv = sys.argv[1:]
    if "train" not in argv:
        from cnnkit.errors import CnnkitError

        raise CnnkitError("--nproc works from the cnnkit command line; from Python, start torchrun yourself")
    i = argv.index("--nproc") if "--nproc" in argv else None
    argv = argv[:i] + argv[i + 2 :] if i is not None else [a for a in argv if not a.startswith("--nproc=")]
    sys.exit(launch(nproc, argv))


def _train(progress, own: dict, options: dict, json_: bool) -> None:
    from cnnkit.api.training import Trials, train

    result = train(own["model"], resume=own["resume"], trials=own["trials"], overwrite=own["overwrite"], progress=progress,
                   **options)
    if isinstance(result, Trials):
        _report_trials(result.summary, json_)
    else:
        _report(result.summary, json_)


def _report(summary: dict, json_: bool) -> None:
    if json_:
        print_json(summary)
    else:
        typer.echo(f"run directory: {summary['run_dir']}")


def _report_trials(result: dict, json_: bool) -> None:
    if json_:
        print_json(result)
        return
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    table = Table(title=f"{result['trials']} trials (seeds {', '.join(map(str, result['seeds']))})")
    for col in ("metric", "mean", "std", "values"):
        table.add_column(col)
    for k, v in result["metrics"].items():
        table.add_row(k, f"{v['mean']:.4f}", f"{v['std']:.4f}", ", ".join(f"{x:.4f}" for x in v["values"]))
    stdout_console().print(table)


@app.command()
@with_load_flags
def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint (best.pt / last.pt of a run).")],
    dataset: Annotated[OptionalStr, Opt("--dataset", "-d", help="Default: the dataset the model was trained on.")] = None,
    split: Annotated[str, Opt("--split", help="test, val or train.")] = "test",
    data_dir: DataDirOpt = None,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 256,
    device: Annotated[str, Opt("--device")] = "auto",
    out: Annotated[OptionalStr, Opt("--out", "-o", help="Folder for the confusion matrix / per-image CSV (default: next to the checkpoint).")] = None,
    tta: Annotated[Optional[bool], Opt("--tta/--no-tta", help="Mirror test-time augmentation (default: as the run validated).")] = None,
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Accuracy, per-class accuracy and a confusion matrix; or Dice, IoU and pixel accuracy per class and per image.

    Also weights saved by your own training loop (torch.save(model.state_dict(), ...), the tutorial's
    {"model_state_dict": ...}, Lightning, torchvision, timm), with --dataset; read, never executed.

    Example: cnnkit evaluate runs/convnet-cifar10/best.pt --split test

    Example: cnnkit evaluate my_resnet.pt --dataset cifar10 --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26
    """
    from cnnkit.api.inference import evaluate as evaluate_on

    result = evaluate_on(checkpoint, dataset, split, data_dir, batch_size, device, out, tta,
                         **load)
    if json_:
        print_json(result)
        return
    _render_eval(result)  # with its notes (what loading assumed, class names matched)


def _render_eval(r: dict) -> None:
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    console = stdout_console()
    from rich.markup import escape

    console.print(escape(f"{r['checkpoint']} on {r['dataset']} [{r['split']}], {r['images']} images"), highlight=False)
    for note in r.get("notes", []):
        console.print(f"note: {escape(note)}", highlight=False)
    table = Table()
    if r["task"] == "classification":
        console.print(f"accuracy {r['accuracy']:.4f}" + (f"   top-5 {r['top5_accuracy']:.4f}" if "top5_accuracy" in r else ""))
        table.add_column("class")
        table.add_column("accuracy", justify="right")
        for name, acc in zip(r["class_names"], r["per_class_accuracy"]):
            table.add_row(name, "no images" if acc is None else f"{acc:.4f}")
        console.print(table)
        console.print(f"confusion matrix: {r['confusion_png']} and {r['confusion_csv']}", highlight=False)
    else:
        console.print(f"pixel accuracy {r['pixel_accuracy']:.4f}   pooled macro Dice {r['dice']:.4f}   pooled macro IoU {r['iou']:.4f}")
        console.print(f"per-image macro Dice: mean {r['dice_mean']:.4f}  std {r['dice_std']:.4f}  min {r['dice_min']:.4f}  max {r['dice_max']:.4f}")
        for col in ("class", "Dice (pooled)", "IoU (pooled)"):
            table.add_column(col, justify="right" if col != "class" else "left")
        for name, d, j in zip(r["class_names"], r["dice_per_class"], r["iou_per_class"]):
            table.add_row(name, "-" if d is None else f"{d:.4f}", "-" if j is None else f"{j:.4f}")
        console.print(table)
        console.print(f"per-image scores: {r['per_image_csv']}", highlight=False)


@app.command()
@with_load_flags
def predict(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    top_k: Annotated[int, Opt("--top-k", "-k", help="Classes to show per image.")] = 5,
    out: Annotated[OptionalStr, Opt("--out", "-o", help="Folder for segmentation masks (default: predictions/ in the checkpoint's run directory; existing files are never replaced).")] = None,
    device: Annotated[str, Opt("--device")] = "auto",
    json_: JsonOpt = False,
    load: Optional[dict] = None,  # the seven loading flags (with_load_flags)
) -> None:
    """Top-k classes with probabilities, or a class-index mask PNG per image for segmentation models,
    through the checkpoint's evaluation pipeline (its image size, normalisation and mirror TTA, as `evaluate`).

    Example: cnnkit predict runs/convnet-cifar10/best.pt cat.jpg dog.png --top-k 3

    Example: cnnkit predict runs/unet-membrane/best.pt slice.png --out masks/

    Example: cnnkit predict my_state_dict.pt cat.png --input 3x32x32 --classes classes.txt
    """
    from cnnkit.api.inference import predict as predict_on

    result = predict_on(checkpoint, images, top_k, device, out, **load)
    if json_:
        print_json(result)
        return
    print_notes(result.get("notes"), json_)
    for p in result["predictions"]:
        if "top" in p:
            typer.echo(f"{p['image']}: " + ", ".join(f"{t['class']} {t['probability']:.3f}" for t in p["top"]))
        else:
            typer.echo(f"{p['image']}: mask {p['mask']} (" + ", ".join(f"{k} {v:.1%}" for k, v in p["class_fractions"].items()) + ")")
