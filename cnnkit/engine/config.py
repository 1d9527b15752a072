"""Everything a training run is made of, as one JSON-able dataclass (config.json).

Precedence: these defaults < the recipe < the data-aware policy (engine/policy.py) <
options the user set explicitly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from cnnkit.errors import CnnkitError

# Options that do not change what a run computes, only where or how fast: a resumed
# run or a sweep's finished run may differ in these (resume on another machine, extend
# --epochs, move the data). Every other option defines the run.
NOT_DEFINING = frozenset({"out", "log", "epochs", "device", "data_dir", "compile", "channels_last", "precision",
                          "eval_batch_size", "deterministic", "patience"})


@dataclass
class TrainConfig:
    # the model as config.json records it: a registered name, PATH.py:NAME, a layer spec, or the
    # name of a class / builder / instance given from Python (held in model_object, not a field)
    model: str
    dataset: str = "shapes"
    model_options: dict = field(default_factory=dict)
    recipe: Optional[str] = None  # None: picked from the data (see recipes.default_recipe)
    epochs: float = 10  # fractions allowed (9.9: the last epoch stops after 90% of its steps)
    batch_size: int = 128
    eval_batch_size: int = 512
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    switch: Optional[str] = None  # "EPOCH:OPTIMIZER[:LR]"
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 30  # for schedule=step: multiply by 0.1 every this many epochs
    loss: str = "ce"
    label_smoothing: float = 0.0
    class_weights: Optional[str] = None  # "balanced" or "w0,w1,..."
    grad_clip: Optional[float] = None  # max gradient norm
    init: Optional[str] = None
    pretrained: bool = False
    weights: Optional[str] = None  # a local file of pretrained weights (state dict) instead of downloading them
    freeze: Optional[str] = None  # "backbone": train only the head
    head_lr: Optional[float] = None
    augment: str = "flip"
    crop: Optional[list] = None  # [h, w] random training crops (segmentation on large images)
    data_dir: Optional[str] = None
    val_split: float = 0.1
    test_split: float = 0.2  # only for data without a test split of its own
    image_size: Optional[list] = None
    ignore_index: Optional[int] = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: Optional[bool] = None  # None: on for CUDA
    compile: bool = False
    sync_bn: bool = False  # distributed: batch norm statistics over the global batch (CUDA only)
    seed: int = 0
    deterministic: bool = False
    tta: bool = False  # evaluate on the image and its mirror image, averaging the logits
    # The CIFAR-10 speed-run elements (airbench94; engine/speedpath.py), each switchable on its own:
    tta_level: Optional[str] = None  # none | mirror | mirror+translate; None: mirror when tta, else none
    alternating_flip: bool = False  # each image flipped on every other epoch instead of by a coin toss
    whiten_bias_epochs: Optional[int] = None  # train the whitening layer's bias this many epochs, then freeze it
    lookahead: bool = False  # average the weights every lookahead_every steps from epoch lookahead_start
    lookahead_every: int = 5
    lookahead_start: float = 3
    bias_lr_scale: float = 1.0  # lr multiplier for batch-norm biases (same weight decay per step)
    bn_momentum: Optional[float] = None  # PyTorch BN momentum (weight of the new batch) for every BN layer
    model_dtype: Optional[str] = None  # auto | fp32 | fp16 | bf16 weights (auto: fp16 on CUDA); None: fp32
    patience: Optional[int] = None  # early stopping: epochs without validation improvement
    out: Optional[str] = None
    # what the data-aware policy chose and why ({'recipe', 'choices', 'notes'}; engine/policy.py)
    policy: Optional[dict] = None
    log: Optional[str] = None  # "tensorboard": event files under RUN/tensorboard/ (engine/tblog.py)

    model_object = None  # a Python class, builder or nn.Module given to cnnkit.train (not saved: the checkpoint keeps its source)

    @classmethod
    def build(cls, model: str, recipe_values: dict, overrides: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise CnnkitError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {**recipe_values, **{k: v for k, v in overrides.items() if v is not None}}
        values.pop("model", None)
        return cls(model=model, **values)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Every numeric option checked at the boundary: its type, NaN/inf and its range
        (a NaN passes `x <= 0`, so the checks are written as what must hold)."""
        for name, integer, ok, rule in _NUMBER_RULES:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_NUMBERS:
                continue
            flag = "--" + name.replace("_", "-")
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number or (integer and not isinstance(value, int)) or not math.isfinite(value):
                kind = "a whole number" if integer else "a number"
                raise CnnkitError(f"{flag} takes {kind}, got {value!r}; it must be {rule}")
            if not ok(value):
                raise CnnkitError(f"{flag} must be {rule}, got {value!r}")
        if self.log not in (None, "tensorboard"):
            raise CnnkitError(f"--log {self.log!r}: the only logger is 'tensorboard' (pip install 'cnnkit[tensorboard]')")
        if self.tta_level not in (None, "none", "mirror", "mirror+translate"):
            raise CnnkitError(f"--tta-level {self.tta_level!r}: use none, mirror or mirror+translate")
        if self.model_dtype not in (None, "auto", "fp32", "fp16", "bf16"):
            raise CnnkitError(f"--model-dtype {self.model_dtype!r}: use auto, fp32, fp16 or bf16")
        if self.alternating_flip and "flip" not in [t.strip() for t in (self.augment or "").split(",")]:
            raise CnnkitError("--alternating-flip changes how flips are drawn; add flip to --augment (e.g. flip,translate=2)")
        if self.freeze not in (None, "backbone"):
            raise CnnkitError(f"--freeze {self.freeze!r}: only 'backbone' is supported (train the head only)")
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


# (field, whole number?, test, the rule in words) for TrainConfig.validate
_NUMBER_RULES = (
    ("epochs", False, lambda v: v >= 1, "at least 1 (fractions allowed, e.g. 9.9)"),
    ("batch_size", True, lambda v: v >= 1, "at least 1"),
    ("eval_batch_size", True, lambda v: v >= 1, "at least 1"),
    ("lr", False, lambda v: v > 0, "positive (e.g. 0.05)"),
    ("momentum", False, lambda v: 0 <= v < 1, "in [0, 1) (e.g. 0.9)"),
    ("weight_decay", False, lambda v: v >= 0, "zero or positive (e.g. 5e-4)"),
    ("warmup_epochs", False, lambda v: v >= 0, "zero or positive"),
    ("step_epochs", True, lambda v: v >= 1, "at least 1"),
    ("label_smoothing", False, lambda v: 0 <= v < 1, "in [0, 1)"),
    ("grad_clip", False, lambda v: v >= 0, "a gradient norm such as 2.0, or 0 for no clipping"),
    ("head_lr", False, lambda v: v > 0, "positive"),
    ("val_split", False, lambda v: 0 <= v < 1, "in [0, 1)"),
    ("test_split", False, lambda v: 0 < v < 1, "in (0, 1)"),
    ("ignore_index", True, lambda v: 0 <= v <= 255, "a mask value in 0..255"),
    ("seed", True, lambda v: 0 <= v < 2**32, "in 0..4294967295"),
    ("patience", True, lambda v: v >= 1, "at least 1"),
    ("whiten_bias_epochs", True, lambda v: v >= 0, "zero or more epochs"),
    ("lookahead_every", True, lambda v: v >= 1, "at least 1 step"),
    ("lookahead_start", False, lambda v: v >= 0, "zero or more epochs"),
    ("bias_lr_scale", False, lambda v: v > 0, "positive (airbench: 64)"),
    ("bn_momentum", False, lambda v: 0 < v <= 1, "in (0, 1] (PyTorch convention: the weight of each new batch)"),
)
_OPTIONAL_NUMBERS = {"grad_clip", "head_lr", "ignore_index", "patience", "whiten_bias_epochs", "bn_momentum"}
