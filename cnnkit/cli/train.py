"""`cnnkit train`, `cnnkit evaluate`, `cnnkit predict`: parse, one library call, render."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.options import (
    MODEL_HELP,
    ClassesOpt,
    DataDirOpt,
    IgnoreIndexOpt,
    ImageSizeOpt,
    InputShapeOpt,
    JsonOpt,
    LoadOptOpt,
    MeanOpt,
    ModelRefOpt,
    StdOpt,
    TrustOpt,
    load_flags,
    parse_hw,
    parse_model_options,
    print_json,
    print_notes,
)

app = typer.Typer()

Opt = typer.Option
OptionalFloat = Optional[float]
OptionalInt = Optional[int]
OptionalStr = Optional[str]


@app.command()
def train(
    model: Annotated[OptionalStr, typer.Argument(help=MODEL_HELP + " Not needed with --resume.")] = None,
    dataset: Annotated[OptionalStr, Opt("--dataset", "-d", help="shapes (default), shapes-seg, cifar10, ..., folder:PATH, segfolder:PATH.")] = None,
    epochs: Annotated[OptionalFloat, Opt("--epochs", "-e", help="Epochs to train (recipe default otherwise; fractions allowed, e.g. 9.9).")] = None,
    out: Annotated[OptionalStr, Opt("--out", "-o", help="Run directory (default runs/MODEL-DATA-TIME).")] = None,
    recipe: Annotated[OptionalStr, Opt("--recipe", help="plain, default, cifar-fast, cifar-speedrun, segmentation (default: picked from the data and the model; the run prints why).")] = None,
    batch_size: Annotated[OptionalInt, Opt("--batch-size", "-b")] = None,
    lr: Annotated[OptionalFloat, Opt("--lr", help="Peak learning rate.")] = None,
    optimizer: Annotated[OptionalStr, Opt("--optimizer", help="sgd, adam, adamw, rmsprop, rprop, adagrad.")] = None,
    momentum: Annotated[OptionalFloat, Opt("--momentum")] = None,
    nesterov: Annotated[Optional[bool], Opt("--nesterov/--no-nesterov")] = None,
    weight_decay: Annotated[OptionalFloat, Opt("--weight-decay")] = None,
    switch: Annotated[OptionalStr, Opt("--switch", help="Change optimiser at an epoch: EPOCH:NAME[:LR], e.g. 7:sgd:0.01.")] = None,
    schedule: Annotated[OptionalStr, Opt("--schedule", help="none, step, cosine, onecycle, plateau.")] = None,
    warmup_epochs: Annotated[OptionalFloat, Opt("--warmup-epochs", help="Linear lr warm-up (fractions allowed).")] = None,
    loss: Annotated[OptionalStr, Opt("--loss", help="ce; for segmentation also dice or ce+dice.")] = None,
    label_smoothing: Annotated[OptionalFloat, Opt("--label-smoothing")] = None,
    class_weights: Annotated[OptionalStr, Opt("--class-weights", help="'balanced' or w0,w1,...")] = None,
    grad_clip: Annotated[OptionalFloat, Opt("--grad-clip", help="Clip the gradient norm to this value; 0: never clip. Default: 2 for networks with ReLU-like units and no normalisation layers (convnet, convnet-net2, signnet) trained by SGD, none otherwise.")] = None,
    init: Annotated[OptionalStr, Opt("--init", help="default, kaiming-uniform, kaiming-normal, xavier-uniform, xavier-normal, orthogonal.")] = None,
    pretrained: Annotated[bool, Opt("--pretrained", help="Start from ImageNet weights (models with that option).")] = False,
    weights: Annotated[OptionalStr, Opt("--weights", help="Start from the weights in this local file (a state dict, checked against the model), e.g. --weights resnet18-f37072fd.pth for an offline --pretrained.")] = None,
    freeze: Annotated[OptionalStr, Opt("--freeze", help="'backbone': train only the head (needs --pretrained or --weights).")] = None,
    head_lr: Annotated[OptionalFloat, Opt("--head-lr", help="Separate learning rate for the head.")] = None,
    augment: Annotated[OptionalStr, Opt("--augment", help="flip, vflip, translate=N, cutout=N, comma-separated; or none.")] = None,
    crop: Annotated[OptionalStr, Opt("--crop", help="Random training crops HxW (segmentation on large images).")] = None,
    opt: Annotated[Optional[list[str]], Opt("--opt", help="Model option key=value (repeatable): a registered model's option or your class's argument, e.g. --opt width=16.")] = None,
    data_dir: DataDirOpt = None,
    val_split: Annotated[OptionalFloat, Opt("--val-split", help="Fraction of train held out for validation (default 0.1).")] = None,
    test_split: Annotated[OptionalFloat, Opt("--test-split", help="Test fraction for data without a test split (default 0.2).")] = None,
    image_size: ImageSizeOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    device: Annotated[str, Opt("--device", help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
    precision: Annotated[str, Opt("--precision", help="auto (bf16 autocast where the GPU or CPU computes bf16 natively, else fp32; fp16 on older GPUs), fp32, bf16, fp16.")] = "auto",
    channels_last: Annotated[Optional[bool], Opt("--channels-last/--no-channels-last", help="Default: on for CUDA.")] = None,
    compile_: Annotated[bool, Opt("--compile", help="torch.compile the model.")] = False,
    nproc: Annotated[int, Opt("--nproc", help="Data-parallel over N processes on this machine (runs torchrun; one per GPU, or CPU with gloo).")] = 1,
    sync_bn: Annotated[bool, Opt("--sync-bn", help="Distributed: batch norm statistics over the global batch (CUDA).")] = False,
    seed: Annotated[OptionalInt, Opt("--seed")] = None,
    deterministic: Annotated[bool, Opt("--deterministic", help="Deterministic kernels only (slower on GPU).")] = False,
    patience: Annotated[OptionalInt, Opt("--patience", help="Early stopping: epochs without validation improvement.")] = None,
    tta: Annotated[Optional[bool], Opt("--tta/--no-tta", help="Validate and test on image + mirror image (logits averaged).")] = None,
    tta_level: Annotated[OptionalStr, Opt("--tta-level", help="Test-time views with --tta: mirror, or mirror+translate (6 views; validation uses mirror).")] = None,
    alternating_flip: Annotated[Optional[bool], Opt("--alternating-flip/--random-flip", help="Flip each image on every other epoch instead of by a coin toss.")] = None,
    whiten_bias_epochs: Annotated[OptionalInt, Opt("--whiten-bias-epochs", help="Train the whitening layer's bias this many epochs, then freeze it.")] = None,
    lookahead: Annotated[Optional[bool], Opt("--lookahead/--no-lookahead", help="Average the weights as airbench does (every --lookahead-every steps from epoch --lookahead-start).")] = None,
    lookahead_every: Annotated[OptionalInt, Opt("--lookahead-every", help="Steps between lookahead updates (default 5).")] = None,
    lookahead_start: Annotated[OptionalFloat, Opt("--lookahead-start", help="Epoch the lookahead starts (default 3).")] = None,
    bias_lr_scale: Annotated[OptionalFloat, Opt("--bias-lr-scale", help="lr multiplier for batch-norm biases, same decay per step (airbench: 64).")] = None,
    bn_momentum: Annotated[OptionalFloat, Opt("--bn-momentum", help="Momentum of every BN layer, PyTorch convention (airbench's 0.6 is 0.4 here).")] = None,
    model_dtype: Annotated[OptionalStr, Opt("--model-dtype", help="Weights in auto (fp16 on CUDA), fp32, fp16 (CUDA) or bf16; no autocast then.")] = None,
    trials: Annotated[int, Opt("--trials", help="Train K times with seeds seed..seed+K-1 and report mean +/- std.")] = 1,
    resume: Annotated[OptionalStr, Opt("--resume", help="Continue the run in this directory from its last.pt.")] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Reuse an --out folder that already holds a run: deletes only the files cnnkit listed there (docs/files.md), never yours. Example: --out runs/a --overwrite")] = False,
    log: Annotated[OptionalStr, Opt("--log", help="tensorboard: also write TensorBoard event files to RUN/tensorboard/ (needs pip install 'cnnkit[tensorboard]').")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
    json_: JsonOpt = False,
) -> None:
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

    if nproc != 1 and "WORLD_SIZE" not in os.environ:  # launch the job; torchrun starts this command again N times
        _launch(nproc)
        return
    is_main = os.environ.get("RANK", "0") == "0"
    progress = make_progress(quiet or json_ or not is_main)
    json_ = json_ and is_main
    if not is_main:  # one report per job: the other ranks print nothing
        sys.stdout = open(os.devnull, "w")
    try:
        _train(progress, model, dataset, epochs, resume, trials, overwrite, json_, dict(
            epochs=epochs, out=out, recipe=recipe, batch_size=batch_size, lr=lr, optimizer=optimizer, momentum=momentum,
            nesterov=nesterov, weight_decay=weight_decay, switch=switch, schedule=schedule, warmup_epochs=warmup_epochs,
            loss=loss, label_smoothing=label_smoothing, class_weights=class_weights, grad_clip=grad_clip, init=init,
            pretrained=pretrained or None, weights=weights, freeze=freeze, head_lr=head_lr, augment=augment, crop=parse_hw(crop, "--crop"),
            model_options=parse_model_options(opt) or None, data_dir=data_dir, val_split=val_split, test_split=test_split,
            image_size=parse_hw(image_size, "--image-size"), ignore_index=ignore_index, device=device, precision=precision,
            channels_last=channels_last, compile=compile_ or None, tta=tta, seed=seed, deterministic=deterministic or None,
            patience=patience, sync_bn=sync_bn or None, log=log, tta_level=tta_level, alternating_flip=alternating_flip,
            whiten_bias_epochs=whiten_bias_epochs, lookahead=lookahead, lookahead_every=lookahead_every,
            lookahead_start=lookahead_start, bias_lr_scale=bias_lr_scale, bn_momentum=bn_momentum, model_dtype=model_dtype,
        ))
    finally:
        getattr(progress, "close", lambda: None)()  # leave the terminal clean after Ctrl-C or an error
        if "WORLD_SIZE" in os.environ:
            from cnnkit.engine.distributed import shutdown

            shutdown()


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


def _train(progress, model, dataset, epochs, resume, trials, overwrite, json_, overrides) -> None:
    from cnnkit.api.training import Trials, train

    result = train(model, dataset, epochs, resume=resume, trials=trials, overwrite=overwrite, progress=progress,
                   **{k: v for k, v in overrides.items() if k != "epochs"})
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
def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint (best.pt / last.pt of a run).")],
    dataset: Annotated[OptionalStr, Opt("--dataset", "-d", help="Default: the dataset the model was trained on.")] = None,
    split: Annotated[str, Opt("--split", help="test, val or train.")] = "test",
    data_dir: DataDirOpt = None,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 256,
    device: Annotated[str, Opt("--device")] = "auto",
    out: Annotated[OptionalStr, Opt("--out", "-o", help="Folder for the confusion matrix / per-image CSV (default: next to the checkpoint).")] = None,
    tta: Annotated[Optional[bool], Opt("--tta/--no-tta", help="Mirror test-time augmentation (default: as the run validated).")] = None,
    model: ModelRefOpt = None,
    opt: LoadOptOpt = None,
    input_shape: InputShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    classes: ClassesOpt = None,
    trust: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Accuracy, per-class accuracy and a confusion matrix; or Dice, IoU and pixel accuracy per class and per image.

    Also weights saved by your own training loop (torch.save(model.state_dict(), ...), the tutorial's
    {"model_state_dict": ...}, Lightning, torchvision, timm), with --dataset; read, never executed.

    Example: cnnkit evaluate runs/convnet-cifar10/best.pt --split test

    Example: cnnkit evaluate my_resnet.pt --dataset cifar10 --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26
    """
    from cnnkit.api.inference import evaluate as evaluate_on

    result = evaluate_on(checkpoint, dataset, split, data_dir, batch_size, device, out, tta,
                         **load_flags(model, opt, input_shape, mean, std, classes, trust))
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
def predict(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by cnnkit train.")],
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    top_k: Annotated[int, Opt("--top-k", "-k", help="Classes to show per image.")] = 5,
    out: Annotated[OptionalStr, Opt("--out", "-o", help="Folder for segmentation masks (default: predictions/ in the checkpoint's run directory; existing files are never replaced).")] = None,
    device: Annotated[str, Opt("--device")] = "auto",
    model: ModelRefOpt = None,
    opt: LoadOptOpt = None,
    input_shape: InputShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    classes: ClassesOpt = None,
    trust: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Top-k classes with probabilities, or a class-index mask PNG per image for segmentation models,
    through the checkpoint's evaluation pipeline (its image size, normalisation and mirror TTA, as `evaluate`).

    Example: cnnkit predict runs/convnet-cifar10/best.pt cat.jpg dog.png --top-k 3

    Example: cnnkit predict runs/unet-membrane/best.pt slice.png --out masks/

    Example: cnnkit predict my_state_dict.pt cat.png --input 3x32x32 --classes classes.txt
    """
    from cnnkit.api.inference import predict as predict_on

    result = predict_on(checkpoint, images, top_k, device, out, **load_flags(model, opt, input_shape, mean, std, classes, trust))
    if json_:
        print_json(result)
        return
    print_notes(result.get("notes"), json_)
    for p in result["predictions"]:
        if "top" in p:
            typer.echo(f"{p['image']}: " + ", ".join(f"{t['class']} {t['probability']:.3f}" for t in p["top"]))
        else:
            typer.echo(f"{p['image']}: mask {p['mask']} (" + ", ".join(f"{k} {v:.1%}" for k, v in p["class_fractions"].items()) + ")")
