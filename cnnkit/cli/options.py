"""Options shared by several commands, defined once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout and nothing else.")]


def print_json(obj: dict) -> None:
    """Strict JSON (NaN / inf become null): what `json.loads(..., parse_constant=raise)` reads."""
    from cnnkit.jsontext import dumps

    typer.echo(dumps(obj, indent=2))


def print_written(info: dict, json_: bool, *lines: str) -> None:
    """A command that wrote a file: the --json dict, or its notes, the path and then
    the named keys (e.g. the matching PyTorch line), one per line."""
    if json_:
        print_json(info)
        return
    for note in info.get("notes") or []:
        typer.echo(f"note: {note}")
    for key in ("path", *lines):
        typer.echo(info[key])


# The model argument of every command that builds a network (train, summary, sweep): one text.
MODEL_HELP = ("A registered model (cnnkit models); PATH.py:NAME, your nn.Module class or a function returning one, "
              "e.g. my_net.py:Net1 (loading the file runs its code, like import: use files you trust; --opt key=value "
              "are its arguments, num_classes / in_channels come from the data); or a layer spec in quotes as "
              "`cnnkit layers` reads it, e.g. \"3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10\".")


def parse_model_options(items: list[str] | None) -> dict:
    """['depth=3', 'upsampling=nearest', 'widths=(16,32)'] -> {'depth': 3, ...}.

    Values are Python literals where they parse as one (numbers, booleans, tuples),
    otherwise strings.
    """
    from cnnkit.engine.config import literal_value
    from cnnkit.errors import SpecError

    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"model option {item!r} must look like key=value, e.g. --opt depth=3")
        options[key.strip()] = literal_value(value.strip())
    return options


# ---------------------------------------------------------------- data options

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="shapes, shapes-seg, cifar10, ..., folder:PATH or segfolder:PATH (see `cnnkit data list`).")]
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="Data root for downloads and the tensor cache (default $CNNKIT_DATA or ~/.cache/cnnkit/data).")]
ValSplitOpt = Annotated[float, typer.Option("--val-split", help="Fraction of the training split held out for validation (0 = none).")]
ImageSizeOpt = Annotated[Optional[str], typer.Option("--image-size", help="Resize every image (and mask) to HxW, e.g. 64 or 256x256.")]
IgnoreIndexOpt = Annotated[Optional[int], typer.Option("--ignore-index", help="Mask value left out of loss and metrics (e.g. 255 for 'unlabelled').")]
NoDownloadOpt = Annotated[bool, typer.Option("--no-download", help="Never download; fail with what to put where.")]


def parse_hw(text, what: str):
    """'256' or '256x192' -> [h, w] (None stays None), as training reads --image-size and --crop."""
    if not text:
        return None
    from cnnkit.engine.config import parse_size

    return parse_size(text, what)


def data_options(data_dir=None, val_split=0.1, image_size=None, ignore_index=None, no_download=False, split_seed=0, test_split=0.2):
    """Build cnnkit.data.DataOptions from the shared CLI options, checked as training checks them."""
    from cnnkit.data.catalog import DataOptions
    from cnnkit.engine.config import check_value

    for name, value in (("val_split", val_split), ("test_split", test_split), ("ignore_index", ignore_index)):
        check_value(name, value)  # the declaration's range (engine/config.py)
    size = parse_hw(image_size, "--image-size")
    return DataOptions(data_dir=data_dir, val_split=val_split, split_seed=split_seed, test_split=test_split,
                       image_size=tuple(size) if size else None, ignore_index=ignore_index, download=not no_download)


# ---------------------------------------------------------------- checkpoints from your own training loop
# A state dict records weights only: these say what it does not (cnnkit's own checkpoints record all of it).

ModelRefOpt = Annotated[Optional[str], typer.Option("--model", help="Weights from your own training loop: the network they belong to, e.g. --model resnet18 (default: matched against the registered models by the weights' names and shapes).")]
LoadOptOpt = Annotated[Optional[list[str]], typer.Option("--opt", help="Option of --model, key=value (repeatable), e.g. --opt widths=(16,32).")]
InputShapeOpt = Annotated[Optional[str], typer.Option("--input", help="Weights from your own loop: the input size CxHxW it trained at, e.g. --input 3x32x32 (default: from the weights, or the model's).")]
MeanOpt = Annotated[Optional[str], typer.Option("--mean", help="Weights from your own loop: the normalisation mean per channel (0..1 scale), e.g. --mean 0.49,0.48,0.45 (default: none).")]
StdOpt = Annotated[Optional[str], typer.Option("--std", help="Weights from your own loop: the normalisation std per channel, e.g. --std 0.25,0.24,0.26 (default: none).")]
ClassesOpt = Annotated[Optional[str], typer.Option("--classes", help="Class names, comma-separated or a file with one per line, e.g. --classes cat,dog,bird (default: recorded, or 0..K-1).")]
TrustOpt = Annotated[bool, typer.Option("--trust-checkpoint", help="Unpickle a whole saved model (torch.save(model)): this RUNS CODE from the file, so only for files you made yourself, e.g. cnnkit summary model.pt --trust-checkpoint. Better: save model.state_dict().")]


def load_flags(model=None, opt=None, input_shape=None, mean=None, std=None, classes=None, trust=False) -> dict:
    """The shared checkpoint flags as the keyword arguments of the cnnkit.api functions."""
    return {"model": model, "options": parse_model_options(opt) or None, "input": input_shape, "mean": mean, "std": std,
            "classes": classes, "trust_checkpoint": trust}


def print_notes(notes, json_: bool) -> None:
    """What loading a checkpoint assumed, one 'note:' line each on stderr (stdout stays the result)."""
    if json_:
        return
    for n in notes or []:
        typer.echo(f"note: {n}", err=True)
