"""Everything a training run is made of, as one JSON-able dataclass (config.json).

Precedence: these defaults < the recipe < options the user set explicitly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from cnnkit.errors import CnnkitError


@dataclass
class TrainConfig:
    model: str
    dataset: str = "shapes"
    model_options: dict = field(default_factory=dict)
    recipe: Optional[str] = None  # None: picked from the data (see recipes.default_recipe)
    epochs: int = 10
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
    patience: Optional[int] = None  # early stopping: epochs without validation improvement
    out: Optional[str] = None

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
        if self.epochs < 1:
            raise CnnkitError("--epochs must be at least 1")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise CnnkitError("--batch-size must be at least 1")
        if self.lr <= 0:
            raise CnnkitError(f"--lr must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise CnnkitError("--label-smoothing must be in [0, 1)")
        if not 0 <= self.val_split < 1:
            raise CnnkitError("--val-split must be in [0, 1)")
        if not 0 < self.test_split < 1:
            raise CnnkitError("--test-split must be in (0, 1)")
        if self.freeze not in (None, "backbone"):
            raise CnnkitError(f"--freeze {self.freeze!r}: only 'backbone' is supported (train the head only)")
        if self.patience is not None and self.patience < 1:
            raise CnnkitError("--patience must be at least 1")
