"""Which network a checkpoint's weights belong to, and loading them with an error that names keys.

A cnnkit checkpoint records its model. Weights from another training loop do not, so the
network comes from `--model` (a name cnnkit builds, with `--opt`) or from matching the
state dict's keys and shapes against every registered model. Number of classes and input
channels are read from the weights (the last linear / the first conv), the input size of
networks whose classifier depends on it from their first linear layer. Everything not in
the weights (input size, normalisation, class names) comes from flags or a stated default.

    ckpt, model = load("ckpt.pt", LoadOptions(class_names=["cat", "dog"]))
    ckpt.notes   # ['ckpt.pt matches resnet18 with 2 classes ...', 'no normalisation recorded: ...']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError
from cnnkit.foreign import CheckpointError, shape_text

# Square input sizes tried for networks whose first linear layer depends on the input size.
COMMON_SIZES = (32, 28, 64, 96, 128, 224, 256, 48, 16)
_SKIP = "num_batches_tracked"  # BatchNorm's step counter: older files lack it and it changes no output


@dataclass
class LoadOptions:
    """What the caller knows about a checkpoint beyond its weights (the commands' flags)."""

    model: Any = None  # --model: the network the weights belong to (any form build_model takes)
    options: Optional[dict] = None  # --opt key=value for it
    input_shape: Optional[tuple] = None  # --input C x H x W
    mean: Optional[list] = None  # --mean / --std, fractions of 255 per channel
    std: Optional[list] = None
    class_names: Optional[list] = None  # --classes
    trust: bool = False  # --trust-checkpoint: unpickle whole models (runs code from the file)
    data_name: Optional[str] = None  # a dataset given (evaluate): its shape and names are the defaults
    data_shape: Optional[tuple] = None
    data_names: Optional[list] = None
    notes: list = field(default_factory=list)


def shapes_of(sd: dict) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in sd.items() if not k.endswith(_SKIP)}


def fit(model_shapes: dict, ckpt_shapes: dict) -> tuple[list, list, list]:
    """(missing keys, unexpected keys, [(key, checkpoint shape, model shape)]) in model order."""
    missing = [k for k in model_shapes if k not in ckpt_shapes]
    unexpected = [k for k in ckpt_shapes if k not in model_shapes]
    sizes = [(k, ckpt_shapes[k], s) for k, s in model_shapes.items() if k in ckpt_shapes and ckpt_shapes[k] != s]
    return missing, unexpected, sizes


def _first(keys: list, n: int = 3) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def fit_text(missing: list, unexpected: list, sizes: list) -> str:
    """PyTorch's load_state_dict complaint in one line: counts, the first few keys, the first size mismatch."""
    parts = []
    if sizes:
        k, got, want = sizes[0]
        parts.append(f"size mismatch for {k}: checkpoint {shape_text(got)}, model {shape_text(want)}"
                     + (f" (and {len(sizes) - 1} more)" if len(sizes) > 1 else ""))
    if missing:
        parts.append(f"{len(missing)} key{'s' if len(missing) != 1 else ''} missing from the checkpoint ({_first(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key{'s' if len(unexpected) != 1 else ''} ({_first(unexpected)})")
    return "; ".join(parts)


def load_weights(model: nn.Module, sd: dict, what: str, hint: str) -> None:
    """load_state_dict, with every mismatch reported at once by name (not cut off)."""
    problems = fit(shapes_of(model.state_dict()), shapes_of(sd))
    if any(problems):
        raise CheckpointError(f"{what}: {fit_text(*problems)}; {hint}")
    own = model.state_dict()
    full = {**{k: v for k, v in own.items() if k.endswith(_SKIP)}, **sd}  # a missing step counter keeps the model's
    try:
        model.load_state_dict(full)
    except RuntimeError as e:  # e.g. a dtype the parameter cannot take
        raise CheckpointError(f"{what}: {str(e).strip().splitlines()[-1][:200]}; {hint}") from None


@dataclass
class WeightSizes:
    """What the shapes of a state dict say about its network (None where nothing does)."""

    in_channels: Optional[int]  # dim 1 of the first conv weight (or of the first linear for an MLP)
    linear_classes: Optional[int]  # dim 0 of the last linear weight
    conv_classes: Optional[int]  # dim 0 of the last conv weight (a segmentation head)


def weight_sizes(sd: dict) -> WeightSizes:
    weights = [(k, v) for k, v in sd.items() if k.endswith("weight")]
    convs = [v for _, v in weights if v.ndim == 4]
    linears = [v for _, v in weights if v.ndim == 2]
    first = convs[0] if convs else (linears[0] if linears else None)
    return WeightSizes(None if first is None else int(first.shape[1]),
                       int(linears[-1].shape[0]) if linears else None, int(convs[-1].shape[0]) if convs else None)


@dataclass
class Match:
    name: str
    kwargs: dict  # given to create_model
    input_size: Optional[int]  # read from the first linear layer, for builders that take it
    fits: int = 0  # weights whose name and shape agree
    report: str = ""  # what does not fit (closest candidates)


def match_registry(sd: dict, input_size: Optional[int] = None) -> tuple[list[Match], Optional[Match]]:
    """Every registered model whose state dict has exactly these keys and shapes (built on the
    meta device: no memory, no initialisation cost), and the closest one otherwise."""
    from cnnkit.registry import create_model, get_spec, list_models

    target = shapes_of(sd)
    sizes = weight_sizes(sd)
    found, closest = [], None
    for name in list_models():
        spec = get_spec(name)
        classes = sizes.linear_classes if spec.task == "classification" else sizes.conv_classes
        base = {k: v for k, v in (("num_classes", classes), ("in_channels", sizes.in_channels)) if v is not None}
        takes_size = "input_size" in spec.options()
        tries = [input_size] if input_size else ([spec.input_shape[1], *[s for s in COMMON_SIZES if s != spec.input_shape[1]]])
        for size in tries if takes_size else [None]:
            kwargs = dict(base, **({"input_size": size} if size else {}))
            try:
                with torch.device("meta"):
                    model = create_model(name, **kwargs)
            except Exception:  # noqa: BLE001 - a size this builder cannot take: not this one
                continue
            have = shapes_of(model.state_dict())
            problems = fit(have, target)
            if not any(problems):
                found.append(Match(name, kwargs, size, len(target)))
                break
            score = sum(1 for k, s in have.items() if target.get(k) == s)
            if closest is None or score > closest.fits:
                closest = Match(name, kwargs, size, score, fit_text(*problems))
            if set(have) != set(target):
                break  # the input size changes shapes, never names
    return found, closest


def _build(ref: str, shape: tuple, classes: Optional[int], options: dict) -> nn.Module:
    """The --model network (any form build_model takes: a registered name, my_net.py:Net, a
    layer spec) for a (C, H, W) input with `classes` outputs; --opt num_classes=K wins."""
    from cnnkit.models.source import build_model

    options = dict(options)
    if "num_classes" in options:
        classes = options.pop("num_classes")
    return build_model(ref, num_classes=classes, in_channels=shape[0], input_shape=tuple(shape), options=options)


def _fitting_shape(name: str, shape: tuple, classes, options: dict, sd: dict) -> tuple:
    """The square input size at which `name`'s weights have the checkpoint's shapes (its first
    linear layer depends on it); `shape` itself when none does (the fit error then says why)."""
    target = shapes_of(sd)
    for size in (shape[1], *COMMON_SIZES):
        try:
            with torch.device("meta"):
                model = _build(name, (shape[0], size, size), classes, options)
        except Exception:  # noqa: BLE001 - a size this builder cannot take
            continue
        if shapes_of(model.state_dict()) == target:
            return (shape[0], size, size)
    return shape


def resolve_foreign(ck, how: LoadOptions) -> nn.Module:
    """The network of a foreign checkpoint, its weights loaded, and `ck.stored` filled with
    what was matched or given: model, task, input shape, class names, normalisation.
    Every default is said in `ck.notes`."""
    sizes = weight_sizes(ck.state_dict)
    notes = list(ck.notes)
    given_shape = tuple(how.input_shape) if how.input_shape else None
    if ck.module is not None:  # trusted pickled model: it is its own network
        model, entry, spec, size = _trusted_model(ck, how, notes)
    elif how.model:
        model, entry, spec, size = _given_model(ck, how, sizes, given_shape)
    else:
        model, entry, spec, size = _matched_model(ck, how, given_shape, notes)
    shape = _unsaid_shape(how, given_shape, size, sizes, entry["name"], spec, notes)
    c = shape[0]
    for flag, values in (("--mean", how.mean), ("--std", how.std)):
        if values is not None and len(values) != c:  # else normalising would fail deep inside with a shape error
            raise CheckpointError(f"{flag} has {len(values)} value{'s' if len(values) != 1 else ''} but {entry['name']} takes "
                                  f"{c}-channel images; give one per channel, e.g. {flag} {','.join(['0.5'] * c)}")
    if how.mean is not None or how.std is not None:
        norm = {"mean": list(how.mean or [0.0] * c), "std": list(how.std or [1.0] * c)}
    else:
        norm = {"mean": [0.0] * c, "std": [1.0] * c}
        notes.append("no normalisation recorded: using none (pixels scaled to 0..1); pass --mean/--std if you trained with it")
    names = how.class_names or how.data_names
    if how.class_names is None and how.data_names is not None:
        notes.append(f"class names from {how.data_name}")
    ck.stored = {"format": "cnnkit-checkpoint", "version": 1, "model": entry,
                 "task": spec.task if spec else None, "input_shape": list(shape), "class_names": names,
                 "normalization": norm, "dataset": None, "foreign": ck.source,
                 # nothing recorded: full precision and no test-time views, as a plain training loop evaluates
                 "config": {"precision": "fp32", "tta": False}}
    if how.class_names is None and how.data_names is not None:
        ck.stored["class_names_from"] = how.data_name  # a count mismatch is then the dataset's, not a flag's
    ck.notes = notes
    return model


def _trusted_model(ck, how: LoadOptions, notes: list):
    """(model, entry, spec, input size) of a trusted pickled nn.Module: it is its own network."""
    model, name = ck.module, type(ck.module).__name__
    entry = {"name": name, "kwargs": {}, "source": {"kind": "python"}}
    notes.append(f"unpickled a whole {name} model from {ck.path} (--trust-checkpoint: this ran code from the file)")
    if how.model:
        raise CnnkitError(f"{ck.path} holds a whole model ({name}); --model is for files that hold weights only")
    return model, entry, None, None


def _given_model(ck, how: LoadOptions, sizes, given_shape):
    """(model, entry, spec, input size) of the network --model names, built for the classes and
    channels the weights' shapes give, the weights loaded (every misfit key named)."""
    from cnnkit.models.source import display_name, kind_of
    from cnnkit.registry import get_spec

    path, sd, ref = ck.path, ck.state_dict, how.model
    spec = get_spec(ref) if kind_of(ref) == "registry" else None
    label = ref if isinstance(ref, str) else display_name(ref)
    task = spec.task if spec else ("segmentation" if sizes.linear_classes is None else "classification")
    classes = sizes.linear_classes if task == "classification" else sizes.conv_classes
    c = sizes.in_channels or (spec.input_shape[0] if spec else 3)
    shape = given_shape or (c, *(how.data_shape or (spec.input_shape if spec else (c, 32, 32)))[1:])
    if spec and not given_shape and "input_size" in spec.options() and "input_size" not in (how.options or {}):
        shape = _fitting_shape(ref, shape, classes, how.options or {}, sd)
    model = _build(ref, shape, classes, how.options or {})
    entry = dict(getattr(model, "cnnkit_config", {"name": display_name(ref), "kwargs": {}}))
    kwargs = dict(entry.get("kwargs") or {})
    size = kwargs.get("input_size") if spec else None
    shown = ", ".join(f"{k}={v}" for k, v in (how.options or {}).items())
    load_weights(model, sd, f"{path} does not fit {label}" + (f" with {shown}" if shown else ""),
                 "pass --model with the network these weights were trained in (e.g. --model my_net.py:Net, "
                 "or a registered name with --opt key=value)")
    return model, entry, spec, size


def _matched_model(ck, how: LoadOptions, given_shape, notes: list):
    """(model, entry, spec, input size) of the registered model the weights' names and shapes
    match, the weights loaded; the note says which, and the options no weight records."""
    from cnnkit.registry import create_model, get_spec

    path, sd = ck.path, ck.state_dict
    if how.options:
        raise CnnkitError("--opt needs --model: name the network the options are for")
    found, closest = match_registry(sd, given_shape[1] if given_shape and given_shape[1] == given_shape[2] else None)
    if not found:
        near = f"; closest: {closest.name} ({closest.report})" if closest and closest.fits else ""
        raise CheckpointError(f"the weights in {path} match no model cnnkit knows ({len(sd)} tensors, e.g. "
                              f"{_first(list(sd), 2)}){near}; pass --model FILE.py:CLASS naming the file and class you "
                              "trained (e.g. --model my_net.py:Net1), or a registered name with --opt")
    m = found[0]
    name, size, spec = m.name, m.input_size, get_spec(m.name)
    model = create_model(name, **m.kwargs)
    kwargs = dict(model.cnnkit_config["kwargs"])
    entry = {"name": name, "kwargs": kwargs, "source": {"kind": "registry"}}
    load_weights(model, sd, f"{path} does not fit {name}", "pass --model with the network these weights were trained in")
    same = [f.name for f in found[1:]]
    defaults = {k: v for k, v in spec.options().items() if k not in ("input_size", "pretrained", "freeze", "init")}
    shown = ", ".join(f"{k}={v}" for k, v in list(defaults.items())[:6])
    notes.append(f"{path} ({ck.source}) matches {name} with {kwargs.get('num_classes')} classes"
                 + (f" (also {', '.join(same)}: the same weights)" if same else "")
                 + (f"; layers without weights as {name}'s defaults ({shown}): pass --model {name} --opt key=value if yours differ"
                    if shown else ""))
    return model, entry, spec, size


def _unsaid_shape(how: LoadOptions, given_shape, size, sizes, name: str, spec, notes: list) -> tuple:
    """The input shape the weights do not record: --input, else the size the model's first
    linear layer was built for, else the data's or the model's default (said in `notes`)."""
    if given_shape:
        return given_shape
    if size:
        shape = (sizes.in_channels or 3, size, size)
        notes.append(f"input {shape_text(shape)}: the size {name}'s first linear layer was built for")
        return shape
    c = sizes.in_channels or 3
    default = how.data_shape or (spec.input_shape if spec else (c, 32, 32))
    shape = (c, *default[1:])
    where = f"{how.data_name}'s images" if how.data_shape else (f"{name}'s default" if spec else "a guess")
    notes.append(f"no input size recorded: using {shape_text(shape)} ({where}); pass --input CxHxW if you trained at another")
    return shape


def check_outputs(ck, model: nn.Module) -> None:
    """One forward pass on a blank input: the model runs at the input shape, its output has
    the task's form (classification (1, K), segmentation (1, K, H, W)), and the class names
    number K. Fills the task of a model of unknown kind and the names of an unnamed one."""
    c, h, w = ck.input_shape
    try:
        with torch.no_grad():
            y = model.eval()(torch.zeros(1, c, h, w, dtype=next(model.parameters()).dtype))
    except StopIteration:
        raise CheckpointError(f"{ck.path}: the model has no parameters") from None
    except Exception as e:  # noqa: BLE001 - the user's network or input size
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{ck.path}: the model cannot run on a {c}x{h}x{w} input ({first}); "
                              "pass --input CxHxW with the size it was trained at") from None
    if not isinstance(y, torch.Tensor) or y.ndim not in (2, 4):
        shown = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise CheckpointError(f"{ck.path}: the model outputs {shown} per batch; cnnkit needs (N, classes) logits "
                              "for classification or (N, classes, H, W) for segmentation")
    task = "classification" if y.ndim == 2 else "segmentation"
    if ck.task is None:
        ck.stored["task"] = task
    elif ck.task != task:
        got = f"one score per class ({y.shape[1]}) per image, a classification head" if task == "classification" else \
            f"a {y.shape[1]}-class map per pixel, a segmentation head"
        raise CheckpointError(f"{ck.path} says its task is {ck.task} but its model outputs {got}; "
                              "the checkpoint is inconsistent: use another checkpoint or re-train")
    k = int(y.shape[1])
    names = ck.class_names
    if names is not None and len(names) != k and ck.stored.get("class_names_from"):
        raise CheckpointError(f"{ck.stored['class_names_from']} has {len(names)} classes but the weights in {ck.path} have "
                              f"{k} outputs; give the dataset the model was trained on (--dataset)")
    if names is not None and len(names) != k:
        shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
        raise CheckpointError(f"{ck.path} names {len(names)} classes ({shown}) but its model has {k} outputs; "
                              f"pass --classes with {k} names (comma-separated or a file with one per line)")
    if names is None and ck.foreign:
        ck.class_names = ck.names_for(k)  # 0..K-1
        ck.notes.append(f"no class names recorded: using 0..{k - 1}; pass --classes a,b,c or a file with one name per line")


def load(path, how: Optional[LoadOptions] = None):
    """(Checkpoint, model on the CPU in eval mode) for any checkpoint file (or a Checkpoint
    already read)."""
    from cnnkit.engine.checkpoint import Checkpoint, model_from_checkpoint, read_checkpoint

    how = how or LoadOptions()
    check_options(how)
    ck = path if isinstance(path, Checkpoint) else read_checkpoint(path, how.trust)
    path = ck.path
    if ck.foreign:
        model = resolve_foreign(ck, how)
    else:
        # a Python class / builder / object may stand in for a notebook network whose code was not kept
        override = how.model if how.model is not None and not isinstance(how.model, str) else None
        given = [flag for flag, v in (("--model", how.model if override is None else None), ("--opt", how.options),
                                      ("--mean", how.mean), ("--std", how.std), ("--input", how.input_shape)) if v]
        if given:
            raise CnnkitError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for checkpoints from your own training "
                              f"loop; {path} was written by cnnkit train and records its model, input and normalisation")
        # its own remarks (which copy of a changed model file is used) go straight to stderr, as for every command
        model = model_from_checkpoint(ck.as_dict(), Path(path).parent, None, model=override)
        if ck.normalization is None:  # every reader then uses checkpoint.normalization_of's default: say it
            from cnnkit.engine.checkpoint import NO_NORMALIZATION_NOTE

            ck.notes.append(NO_NORMALIZATION_NOTE)
        if how.class_names is not None:
            ck.notes.append(f"class names from --classes instead of the {len(ck.class_names or [])} the checkpoint records")
            ck.stored["class_names"] = list(how.class_names)
    check_outputs(ck, model)
    return ck, model.eval()


def check_options(how: LoadOptions) -> None:
    import math

    for flag, values in (("--mean", how.mean), ("--std", how.std)):
        if values is not None and not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise CnnkitError(f"{flag} must be finite numbers, e.g. --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26")
    if how.std is not None and not all(v > 0 for v in how.std):
        raise CnnkitError("--std must be positive, e.g. --std 0.25,0.24,0.26")
    shape = how.input_shape
    channels = shape[0] if shape else None
    for flag, values in (("--mean", how.mean), ("--std", how.std)):
        if values is not None and channels is not None and len(values) != channels:
            raise CnnkitError(f"{flag} has {len(values)} values but --input has {channels} channels; give one per channel")
    if how.class_names is not None and (not how.class_names or len(set(how.class_names)) != len(how.class_names)):
        raise CnnkitError("--classes must name each class once, e.g. --classes cat,dog,bird")


def class_names_arg(text: Optional[str]) -> Optional[list]:
    """--classes 'cat,dog,bird' or a file with one name per line (blank lines skipped)."""
    if text is None:
        return None
    p = Path(text)
    if p.is_file():
        try:
            lines = p.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise CnnkitError(f"--classes {text} is not a UTF-8 text file; give one class name per line") from None
        return [ln.strip() for ln in lines if ln.strip()]
    if p.suffix in (".txt", ".csv", ".names") or "/" in text:
        raise CnnkitError(f"--classes file {text} does not exist; give names (cat,dog) or a file with one per line")
    return [n.strip() for n in text.split(",") if n.strip()]


def floats_arg(text: Optional[str], flag: str) -> Optional[list]:
    """'0.49,0.48,0.45' -> [0.49, 0.48, 0.45]."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise CnnkitError(f"{flag} {text!r} must be numbers separated by commas, e.g. {flag} 0.49,0.48,0.45") from None


def load_options(model=None, options=None, input=None, mean=None, std=None, classes=None,  # noqa: A002 - the CLI's --input
                 trust_checkpoint: bool = False) -> LoadOptions:
    """The flags every command that reads a checkpoint shares, as Python values or the
    command line's strings: model 'resnet18', 'my_net.py:Net1', a class, builder or object;
    options {'widths': (8, 16)}; input '3x32x32' or
    (3, 32, 32); mean / std '0.5,0.5,0.5' or a list; classes 'cat,dog', a names file or a list."""
    from cnnkit.arith.parse import parse_sizes

    if isinstance(input, str):
        shape = tuple(parse_sizes(input, "--input"))
        if len(shape) != 3 or min(shape) < 1:
            raise CnnkitError(f"--input {input!r} must be C x H x W, e.g. 3x32x32")
    else:
        shape = None if input is None else tuple(int(v) for v in input)
    return LoadOptions(model=model, options=dict(options) if options else None, input_shape=shape,
                       mean=floats_arg(mean, "--mean") if isinstance(mean, str) else mean,
                       std=floats_arg(std, "--std") if isinstance(std, str) else std,
                       class_names=class_names_arg(classes) if isinstance(classes, str) else (None if classes is None else list(classes)),
                       trust=bool(trust_checkpoint))
