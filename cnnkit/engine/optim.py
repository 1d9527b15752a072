"""Optimisers and learning-rate schedules by name.

Every schedule except `plateau` is a per-step multiplier of the base learning rate
(a LambdaLR), so warm-up composes with any of them and the state that a resumed
run needs is just the step count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from cnnkit.errors import CnnkitError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "rprop", "adagrad")
SCHEDULES = ("none", "step", "cosine", "onecycle", "triangle", "plateau")


def build_optimizer(name: str, param_groups, lr: float, momentum: float = 0.9, nesterov: bool = False,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """param_groups: a list of {'params': [...], 'lr_scale': s} (head vs backbone), optionally
    with 'wd_scale' (batch-norm biases at a larger lr keep the same decay per step)."""
    groups = [{"params": g["params"], "lr": lr * g.get("lr_scale", 1.0),
               **({"weight_decay": weight_decay * g["wd_scale"]} if "wd_scale" in g else {})} for g in param_groups]
    if name == "sgd":
        if nesterov and momentum <= 0:
            raise CnnkitError("--nesterov needs --momentum > 0")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rprop":
        if weight_decay:
            raise CnnkitError("rprop has no weight decay; drop --weight-decay")
        return torch.optim.Rprop(groups, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr, weight_decay=weight_decay)
    raise CnnkitError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


@dataclass(frozen=True)
class Phase:
    """Epochs [start, end) trained with one optimiser (e.g. Adam for the first epochs, then SGD)."""

    start: int
    end: int
    optimizer: str
    lr: float


def parse_switch(text: Optional[str], epochs: int, optimizer: str, lr: float) -> list[Phase]:
    """--switch 'EPOCH:NAME[:LR]' (1-based epoch the new optimiser starts) -> phases."""
    if not text:
        return [Phase(0, epochs, optimizer, lr)]
    parts = text.split(":")
    try:
        at = int(parts[0])
        name = parts[1]
        new_lr = float(parts[2]) if len(parts) > 2 else lr
    except (ValueError, IndexError):
        raise CnnkitError(f"--switch {text!r} must be EPOCH:OPTIMIZER[:LR], e.g. 7:sgd:0.01 (SGD from epoch 7)") from None
    if not 1 < at <= epochs:
        raise CnnkitError(f"--switch epoch {at} must be between 2 and --epochs ({epochs})")
    if name not in OPTIMIZERS:
        raise CnnkitError(f"unknown optimizer {name!r} in --switch; choose one of {', '.join(OPTIMIZERS)}")
    return [Phase(0, at - 1, optimizer, lr), Phase(at - 1, epochs, name, new_lr)]


def lr_multiplier(schedule: str, step: int, total: int, warmup: int, step_every: int, gamma: float = 0.1,
                  pct_start: float = 0.25) -> float:
    """The factor on the base lr at optimizer step `step` of `total`.

    step: x gamma every `step_every` steps; cosine: half cosine to 0; onecycle: the
    triangular shape of the CIFAR-10 speed runs (linear up over pct_start, linear
    down to 0). A linear warm-up over the first `warmup` steps multiplies any of them."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if schedule in ("none", "plateau"):
        return warm
    if schedule == "step":
        return warm * gamma ** (step // max(step_every, 1))
    if schedule == "cosine":
        return warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))
    if schedule == "triangle":  # airbench94's: 0.2 -> 1 over the first 23% of steps, then down to 0.07 at the end
        return _piecewise(step, [0, int(0.23 * total), total], [0.2, 1.0, 0.07])
    if schedule == "onecycle":
        peak = max(int(pct_start * total), 1)
        if step < peak:
            return (step + 1) / peak
        return max(0.0, (total - step) / max(total - peak, 1))
    raise CnnkitError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def _piecewise(x: float, xs: list, ys: list) -> float:
    """Linear interpolation through (xs, ys), held at the ends."""
    if x <= xs[0]:
        return ys[0]
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]):
        if x <= x1 and x1 > x0:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def build_schedule(schedule: str, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                   step_every: int, gamma: float = 0.1):
    """(per-step LambdaLR, epoch-level ReduceLROnPlateau or None)."""
    if schedule not in SCHEDULES:
        raise CnnkitError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    fn = lambda s: lr_multiplier(schedule, s, total_steps, warmup_steps, step_every, gamma)
    per_step = torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=gamma, patience=2) if schedule == "plateau" else None
    return per_step, plateau
