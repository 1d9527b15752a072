"""Everything a training run is made of, as one JSON-able dataclass (config.json), and
each training option declared once, on its field: kind, range or choices, help with an
example. `cnnkit train`'s flags (cli/train_flags.py), `cnnkit.train(**options)`, sweeps
(--vary, [train], "--lr 0.1") and `TrainConfig.validate` all read `OPTIONS`.

Precedence: these defaults < the recipe < the data-aware policy (engine/policy.py) <
options the user set explicitly.

Stdlib only (no torch): `cnnkit shape` imports this through the CLI and must start fast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Optional

from cnnkit.errors import CnnkitError, SpecError

# Options that do not change what a run computes, only where or how fast: a resumed
# run or a sweep's finished run may differ in these (resume on another machine, extend
# --epochs, move the data). Every other option defines the run.
NOT_DEFINING = frozenset({"out", "log", "epochs", "device", "data_dir", "compile", "channels_last", "precision",
                          "eval_batch_size", "deterministic", "patience"})

# What an option's value is. From Python and TOML it arrives as the type said here; on the
# command line as text, converted by click (NUMBER, WHOLE) or by `parse_value` (SIZE) or by the CLI (KEY_VALUES: --opt depth=3).
NUMBER, WHOLE, TEXT, PATH, SWITCH, FLAG, SIZE, KEY_VALUES = (
    "number", "whole", "text", "path", "switch", "flag", "size", "key=value")
_KIND_WORDS = {NUMBER: "a number", WHOLE: "a whole number", TEXT: "text", PATH: "a path", SWITCH: "true or false",
               FLAG: "true or false", SIZE: "H or HxW, e.g. 64 or 256x256", KEY_VALUES: "model options (a dict)"}


class Option:
    """One training option. kind: see above (SWITCH has an on and an off flag, FLAG only an
    on flag); rule: (what must hold, in words; the test) for numbers; choices: the texts
    allowed (words then says what to use); flags: the command line's names, default
    --NAME-WITH-DASHES; off: a SWITCH's off flag (default --no-NAME); shown: the
    command's default where it passes one (device auto); help: --help, with an example.
    name and default come from the field. (A plain class: a dataclass costs `cnnkit shape`
    a millisecond at start-up.)"""

    __slots__ = ("kind", "help", "rule", "choices", "flags", "off", "shown", "name", "default")

    def __init__(self, kind: str, help: str, rule: Optional[tuple[str, Optional[Callable[[Any], bool]]]] = None,
                 choices: tuple = (), flags: tuple = (), off: str = "", shown: Any = None, name: str = "",
                 default: Any = None):
        self.kind, self.help, self.rule, self.choices, self.flags = kind, help, rule, choices, flags
        self.off, self.shown, self.name, self.default = off, shown, name, default

    def named(self, name: str, default) -> Option:
        return Option(self.kind, self.help, self.rule, self.choices, self.flags, self.off, self.shown, name, default)

    def __repr__(self) -> str:
        return f"Option({self.name!r}, {self.kind!r}, default={self.default!r})"

    @property
    def flag(self) -> str:
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")


def option(default, kind: str, help: str, **declared):
    """A TrainConfig field that is a training option (its declaration in the metadata)."""
    meta = {"option": Option(kind, help, **declared)}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # the model as config.json records it: a registered name, PATH.py:NAME, a layer spec, or the
    # name of a class / builder / instance given from Python (held in model_object, not a field)
    model: str
    dataset: str = option("shapes", TEXT, "shapes (default), shapes-seg, cifar10, ..., folder:PATH, segfolder:PATH, "
                          "e.g. -d folder:../shared/data/cifar10.", flags=("--dataset", "-d"))
    model_options: dict = option({}, KEY_VALUES, "Model option key=value (repeatable): a registered model's option or your "
                                 "class's argument, e.g. --opt width=16.", flags=("--opt",))
    recipe: Optional[str] = option(None, TEXT, "plain, default, cifar-fast, cifar-speedrun, segmentation (default: picked "
                                   "from the data and the model; the run prints why), e.g. --recipe plain.")
    epochs: float = option(10, NUMBER, "Epochs to train (recipe default otherwise; fractions allowed, e.g. 9.9: the last "
                           "epoch stops after 90% of its steps).", flags=("--epochs", "-e"),
                           rule=("at least 1 (fractions allowed, e.g. 9.9)", lambda v: v >= 1))
    batch_size: int = option(128, WHOLE, "Training images per step, e.g. -b 64.", flags=("--batch-size", "-b"),
                             rule=("at least 1", lambda v: v >= 1))
    eval_batch_size: int = option(512, WHOLE, "Images per step when validating and testing (memory only, the scores "
                                  "are the same), e.g. --eval-batch-size 256.", rule=("at least 1", lambda v: v >= 1))
    optimizer: str = option("sgd", TEXT, "sgd, adam, adamw, rmsprop, rprop, adagrad, e.g. --optimizer adam.")
    lr: float = option(0.05, NUMBER, "Peak learning rate, e.g. --lr 0.1.", rule=("positive (e.g. 0.05)", lambda v: v > 0))
    momentum: float = option(0.9, NUMBER, "SGD momentum, e.g. --momentum 0.9.",
                             rule=("in [0, 1) (e.g. 0.9)", lambda v: 0 <= v < 1))
    nesterov: bool = option(False, SWITCH, "Nesterov momentum for SGD, e.g. --nesterov.")
    weight_decay: float = option(0.0, NUMBER, "L2 weight decay, e.g. --weight-decay 5e-4.",
                                 rule=("zero or positive (e.g. 5e-4)", lambda v: v >= 0))
    switch: Optional[str] = option(None, TEXT, "Change optimiser at an epoch: EPOCH:NAME[:LR], e.g. 7:sgd:0.01.")
    schedule: str = option("cosine", TEXT, "none, step, cosine, onecycle, plateau, e.g. --schedule onecycle.")
    warmup_epochs: float = option(0.0, NUMBER, "Linear lr warm-up (fractions allowed), e.g. --warmup-epochs 0.5.",
                                  rule=("zero or positive", lambda v: v >= 0))
    step_epochs: int = option(30, WHOLE, "With --schedule step: multiply the lr by 0.1 every this many epochs, "
                              "e.g. --step-epochs 10.", rule=("at least 1", lambda v: v >= 1))
    loss: str = option("ce", TEXT, "ce; for segmentation also dice or ce+dice, e.g. --loss ce+dice.")
    label_smoothing: float = option(0.0, NUMBER, "Label smoothing of the cross-entropy, e.g. --label-smoothing 0.1.",
                                    rule=("in [0, 1)", lambda v: 0 <= v < 1))
    class_weights: Optional[str] = option(None, TEXT, "'balanced' or w0,w1,..., e.g. --class-weights 1,2.5,1.")
    grad_clip: Optional[float] = option(
        None, NUMBER, "Clip the gradient norm to this value; 0: never clip. Default: 2 for networks with ReLU-like units "
        "and no normalisation layers (convnet, convnet-net2, signnet) trained by SGD, none otherwise. E.g. --grad-clip 1.",
        rule=("a gradient norm such as 2.0, or 0 for no clipping", lambda v: v >= 0))
    init: Optional[str] = option(None, TEXT, "default, kaiming-uniform, kaiming-normal, xavier-uniform, xavier-normal, "
                                 "orthogonal, e.g. --init kaiming-normal.")
    pretrained: bool = option(False, FLAG, "Start from ImageNet weights (models with that option), e.g. resnet18 "
                              "--pretrained.")
    weights: Optional[str] = option(None, PATH, "Start from the weights in this local file (a state dict, checked against "
                                    "the model), e.g. --weights resnet18-f37072fd.pth for an offline --pretrained.")
    freeze: Optional[str] = option(None, TEXT, "'backbone': train only the head (needs --pretrained or --weights), "
                                   "e.g. --freeze backbone.", choices=("backbone",),
                                   rule=("only 'backbone' is supported (train the head only)", None))
    head_lr: Optional[float] = option(None, NUMBER, "Separate learning rate for the head, e.g. --head-lr 0.01.",
                                      rule=("positive", lambda v: v > 0))
    augment: str = option("flip", TEXT, "flip, vflip, translate=N, cutout=N, comma-separated; or none, "
                          "e.g. --augment flip,translate=2.")
    crop: Optional[list] = option(None, SIZE, "Random training crops HxW (segmentation on large images), "
                                  "e.g. --crop 256x256.")
    data_dir: Optional[str] = option(None, PATH, "Data root for downloads and the tensor cache (default $CNNKIT_DATA "
                                     "or ~/.cache/cnnkit/data), e.g. --data-dir ../shared/data.")
    val_split: float = option(0.1, NUMBER, "Fraction of train held out for validation (default 0.1), e.g. --val-split 0.",
                              rule=("in [0, 1)", lambda v: 0 <= v < 1))
    test_split: float = option(0.2, NUMBER, "Test fraction for data without a test split (default 0.2), "
                               "e.g. --test-split 0.25.", rule=("in (0, 1)", lambda v: 0 < v < 1))
    image_size: Optional[list] = option(None, SIZE, "Resize every image (and mask) to HxW, e.g. 64 or 256x256.")
    ignore_index: Optional[int] = option(None, WHOLE, "Mask value left out of loss and metrics (e.g. 255 for "
                                         "'unlabelled').", rule=("a mask value in 0..255", lambda v: 0 <= v <= 255))
    device: str = option("auto", TEXT, "auto, cpu, cuda, cuda:N, mps, e.g. --device cuda:1.", shown="auto")
    precision: str = option("auto", TEXT, "auto (bf16 autocast where the GPU or CPU computes bf16 natively, else fp32; "
                            "fp16 on older GPUs), fp32, bf16, fp16, e.g. --precision fp32.", shown="auto")
    channels_last: Optional[bool] = option(None, SWITCH, "Default: on for CUDA. E.g. --no-channels-last.")
    compile: bool = option(False, FLAG, "torch.compile the model, e.g. --compile.")
    sync_bn: bool = option(False, FLAG, "Distributed: batch norm statistics over the global batch (CUDA), "
                           "e.g. --nproc 2 --sync-bn.")
    seed: int = option(0, WHOLE, "Random seed of the weights, the data order and the augmentation, e.g. --seed 1.",
                       rule=("in 0..4294967295", lambda v: 0 <= v < 2**32))
    deterministic: bool = option(False, FLAG, "Deterministic kernels only (slower on GPU), e.g. --deterministic.")
    tta: bool = option(False, SWITCH, "Validate and test on image + mirror image (logits averaged), e.g. --tta.")
    # The CIFAR-10 speed-run elements (airbench94; engine/airbench.py), each switchable on its own:
    tta_level: Optional[str] = option(None, TEXT, "Test-time views with --tta: mirror, or mirror+translate (6 views; "
                                      "validation uses mirror), e.g. --tta-level mirror+translate.",
                                      choices=("none", "mirror", "mirror+translate"),
                                      rule=("use none, mirror or mirror+translate", None))
    alternating_flip: bool = option(False, SWITCH, "Flip each image on every other epoch instead of by a coin toss, "
                                    "e.g. --alternating-flip.", off="--random-flip")
    whiten_bias_epochs: Optional[int] = option(None, WHOLE, "Train the whitening layer's bias this many epochs, then "
                                               "freeze it, e.g. --whiten-bias-epochs 3.",
                                               rule=("zero or more epochs", lambda v: v >= 0))
    lookahead: bool = option(False, SWITCH, "Average the weights as airbench does (every --lookahead-every steps from "
                             "epoch --lookahead-start), e.g. --no-lookahead.")
    lookahead_every: int = option(5, WHOLE, "Steps between lookahead updates (default 5), e.g. --lookahead-every 10.",
                                  rule=("at least 1 step", lambda v: v >= 1))
    lookahead_start: float = option(3, NUMBER, "Epoch the lookahead starts (default 3), e.g. --lookahead-start 2.",
                                    rule=("zero or more epochs", lambda v: v >= 0))
    bias_lr_scale: float = option(1.0, NUMBER, "lr multiplier for batch-norm biases, same decay per step (airbench: 64), "
                                  "e.g. --bias-lr-scale 64.", rule=("positive (airbench: 64)", lambda v: v > 0))
    bn_momentum: Optional[float] = option(
        None, NUMBER, "Momentum of every BN layer, PyTorch convention (airbench's 0.6 is 0.4 here), e.g. --bn-momentum 0.4.",
        rule=("in (0, 1] (PyTorch convention: the weight of each new batch)", lambda v: 0 < v <= 1))
    model_dtype: Optional[str] = option(None, TEXT, "Weights in auto (fp16 on CUDA), fp32, fp16 (CUDA) or bf16; no "
                                        "autocast then. E.g. --model-dtype bf16.", choices=("auto", "fp32", "fp16", "bf16"),
                                        rule=("use auto, fp32, fp16 or bf16", None))
    patience: Optional[int] = option(None, WHOLE, "Early stopping: epochs without validation improvement, "
                                     "e.g. --patience 5.", rule=("at least 1", lambda v: v >= 1))
    out: Optional[str] = option(None, PATH, "Run directory (default runs/MODEL-DATA-TIME), e.g. -o runs/first.",
                                flags=("--out", "-o"))
    # what the data-aware policy chose and why ({'recipe', 'choices', 'notes'}; engine/policy.py): a record, not an option
    policy: Optional[dict] = None
    log: Optional[str] = option(None, TEXT, "tensorboard: also write TensorBoard event files to RUN/tensorboard/ (needs "
                                "pip install 'cnnkit[tensorboard]'), e.g. --log tensorboard.", choices=("tensorboard",),
                                rule=("the only logger is 'tensorboard' (pip install 'cnnkit[tensorboard]')", None))

    model_object = None  # a Python class, builder or nn.Module given to cnnkit.train (not saved: the checkpoint keeps its source)

    @classmethod
    def build(cls, model: str, recipe_values: dict, overrides: dict) -> TrainConfig:
        check_names(overrides)
        given = {k: parse_value(k, v) for k, v in overrides.items() if v is not None}
        values: dict[str, Any] = {**recipe_values, **given}
        values.pop("model", None)
        return cls(model=model, **values)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Every option checked at the boundary: its type, NaN/inf, its range or choices (a NaN
        passes `x <= 0`, so the rules are written as what must hold), then what options
        mean together."""
        for name in OPTIONS:
            check_value(name, getattr(self, name))
        if self.alternating_flip and "flip" not in [t.strip() for t in (self.augment or "").split(",")]:
            raise CnnkitError("--alternating-flip changes how flips are drawn; add flip to --augment (e.g. flip,translate=2)")
        if self.freeze == "backbone" and not self.pretrained and not self.weights:
            raise CnnkitError("--freeze backbone without --pretrained (or --weights FILE) would train the head on a randomly "
                              "initialised backbone that never learns; add --pretrained, or drop --freeze to train it all")
        if self.class_weights not in (None, "balanced"):
            try:
                weights = [float(v) for v in str(self.class_weights).split(",")]
            except ValueError:
                raise CnnkitError("--class-weights takes 'balanced' or numbers, e.g. 1,2.5,1") from None
            if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
                raise CnnkitError(f"--class-weights {self.class_weights}: weights must be finite, zero or more, "
                                  "and not all zero, e.g. 1,2.5,1")


# name -> its declaration, in the order of the fields (the order `cnnkit train --help` lists them)
OPTIONS: dict[str, Option] = {
    f.name: f.metadata["option"].named(f.name, f.default_factory() if f.default is MISSING else f.default)
    for f in fields(TrainConfig) if "option" in f.metadata
}


def check_names(options: dict) -> None:
    """Refuse a name that is not a training option (a typo must not be dropped silently)."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise CnnkitError(f"unknown training option(s): {', '.join(sorted(unknown))}; "
                          "the options are `cnnkit train`'s flags with underscores, e.g. batch_size=64")


def check_value(name: str, value) -> None:
    """One option's value against its declaration: kind, finite, range or choices.
    None passes where the option's default is None (not set: the recipe or policy decides)."""
    o = OPTIONS[name]
    if value is None and o.default is None:
        return
    words = o.rule[0] if o.rule else ""
    if o.kind in (NUMBER, WHOLE):
        whole = o.kind == WHOLE
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (whole and not isinstance(value, int)) or not math.isfinite(value):
            raise CnnkitError(f"{o.flag} takes {_KIND_WORDS[o.kind]}, got {value!r}; it must be {words}")
        if not o.rule[1](value):
            raise CnnkitError(f"{o.flag} must be {words}, got {value!r}")
        return
    expected = {TEXT: str, PATH: (str, os.PathLike), SWITCH: bool, FLAG: bool, SIZE: list, KEY_VALUES: dict}[o.kind]
    if not isinstance(value, expected):
        raise CnnkitError(f"{o.flag} takes {_KIND_WORDS[o.kind]}, got {value!r}; see `cnnkit train --help`")
    if o.choices and value not in o.choices:
        raise CnnkitError(f"{o.flag} {value!r}: {words}")


def literal_value(text: str):
    """A model option's or a --vary value's text: 'true' -> True, '3' -> 3, '(8,16)' -> (8, 16),
    'sgd' -> 'sgd' (a Python literal where it parses as one, else the text itself)."""
    import ast

    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_value(name: str, value):
    """The value as TrainConfig holds it: a size given as the command line writes it ("256",
    "256x192"), as one number (TOML: image_size = 64) or as a pair becomes [h, w]."""
    if name in OPTIONS and OPTIONS[name].kind == SIZE and value is not None:
        return parse_size(value, OPTIONS[name].flag)
    return value


def parse_size(value, flag: str) -> Optional[list]:
    """'256' or '256x192' (or 256, or (256, 192)) -> [h, w]; '' -> None."""
    if isinstance(value, str) and not value:
        return None
    if isinstance(value, str):
        from cnnkit.arith.parse import parse_sizes

        size = list(parse_sizes(value, flag))
    else:
        size = list(value) if isinstance(value, (list, tuple)) else [value]
    size = size * 2 if len(size) == 1 else size
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
        raise SpecError(f"{flag} {value!r} must be H or HxW, e.g. 64 or 256x256")
    return size
