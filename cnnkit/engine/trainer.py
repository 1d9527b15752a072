"""The training loop: one epoch of optimisation, one pass of evaluation, and the
state a resumed run needs. Small on purpose (nanoGPT / airbench style): planning a
run is engine/plan.py, building its parts engine/build.py, and the run around this loop
(run directory, checkpoints, early stopping) engine/run.py; progress display is a callback.

Extra behaviour joins through hooks, objects with any of `on_epoch_start(trainer,
epoch)`, `on_step(trainer, epoch)` (after every optimiser step) and
`on_epoch_end(trainer, epoch)`, plus `state_dict`/`load_state_dict` when they carry
state a resumed run needs (airbench's speed-run elements in `cnnkit.engine.airbench`).

The hot loop never waits for the GPU: losses and correct counts accumulate on the
device, a non-finite loss is remembered on the device and checked once per epoch,
and everything is read back once at the epoch's end. A model held in half precision
(`model_dtype`) runs without autocast, on inputs the loader already made half.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch
import torch.nn as nn

from cnnkit.engine.device import Precision
from cnnkit.engine.distributed import Dist
from cnnkit.engine.metrics import make_meter
from cnnkit.engine.optim import Phase, build_optimizer, build_schedule
from cnnkit.engine.tta import forward_tta, tta_level, tta_of
from cnnkit.errors import CnnkitError, RunFailure

if TYPE_CHECKING:
    from cnnkit.engine.config import TrainConfig


class NonFiniteLoss(RunFailure):
    pass


def loss_scale_for(config: TrainConfig, model_dtype: Optional[torch.dtype]) -> float:
    """fp16 weights get fp16 gradients; the loss is multiplied by the batch size (the
    gradient of a summed loss, as airbench trains) so small gradients do not underflow,
    and start_phase divides the SGD lr (and multiplies its weight decay) by the same
    factor. SGD only, because only for SGD is that exactly the same update."""
    if model_dtype != torch.float16:
        return 1.0
    names = {config.optimizer} | ({config.switch.split(":")[1]} if config.switch and ":" in config.switch else set())
    if names != {"sgd"}:
        raise CnnkitError("--model-dtype fp16 trains with SGD only (as airbench does); use --model-dtype bf16 or fp32 "
                          "for other optimisers")
    return float(config.batch_size)


class Trainer:
    """One run's model, loss and optimiser state. Built once (engine/build.py) with keyword
    arguments; `start_phase` gives it the optimiser and schedule of each --switch phase."""

    def __init__(self, *, model: nn.Module, loss_fn: nn.Module, task: str, num_classes: int, device: torch.device,
                 precision: Precision, config: TrainConfig, param_groups: Callable[[], list[dict]],
                 ignore_index: Optional[int] = None, compiled: Optional[nn.Module] = None, dist: Optional[Dist] = None,
                 train_forward: Optional[nn.Module] = None, hooks=(), model_dtype: Optional[torch.dtype] = None):
        self.model = model  # the module whose state_dict is saved
        # what evaluates (maybe torch.compile'd; `or` would call the compiled module's __len__)
        self.forward = compiled if compiled is not None else model
        # what trains: the same, or DistributedDataParallel around it (whose forward
        # takes part in collectives, so evaluation, uneven across ranks, never uses it)
        self.train_forward = train_forward if train_forward is not None else self.forward
        self.dist = dist or Dist()
        self.loss_fn = loss_fn
        self.config = config  # the optimiser settings start_phase reads
        self.param_groups = param_groups  # () -> the optimiser's parameter groups (build.param_groups)
        self.tta = tta_level(tta_of(config))
        self.hooks = list(hooks)
        # Weights held in half precision: no autocast (nothing to cast each step); the
        # loader hands over inputs in this dtype. None: float32 weights + `precision`.
        self.model_dtype = model_dtype
        self.loss_scale = loss_scale_for(config, model_dtype)
        self.step = 0  # optimiser steps taken over the whole run
        self.total_steps = 0  # steps the run will take (set by start_phase; the lookahead schedule uses it)
        self.task, self.num_classes, self.ignore_index = task, num_classes, ignore_index
        self.device, self.precision, self.grad_clip = device, precision, config.grad_clip
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.schedule = None  # per-step LambdaLR
        self.plateau = None  # epoch-level ReduceLROnPlateau
        # (half weights use the static loss_scale instead: a GradScaler cannot unscale fp16 gradients)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler and model_dtype is None)
        # On CPU every loss is checked at once (nothing to wait for); on GPUs once per epoch.
        self.check_every = 1 if device.type == "cpu" else 0

    def start_phase(self, phase: Phase, steps_per_epoch: int) -> None:
        """The optimiser and lr schedule of one --switch phase (the whole run when there is
        no switch). With a loss scale s the SGD lr is divided by s and its weight decay
        multiplied by s: on a loss x s that is exactly the update of the plain loss."""
        c, s = self.config, self.loss_scale
        self.optimizer = build_optimizer(phase.optimizer, self.param_groups(), phase.lr / s, c.momentum, c.nesterov,
                                         c.weight_decay * s)
        epochs = phase.end - phase.start
        self.total_steps = math.ceil(c.epochs * steps_per_epoch)  # fractional --epochs: the last epoch is cut short
        self.schedule, self.plateau = build_schedule(
            c.schedule, self.optimizer, math.ceil(epochs * steps_per_epoch), int(c.warmup_epochs * steps_per_epoch),
            c.step_epochs * steps_per_epoch)

    @property
    def lr(self) -> float:
        """The learning rate now, as the user set it (the head's group; undoing the loss scale)."""
        return self.optimizer.param_groups[-1]["lr"] * self.loss_scale

    def autocast(self):
        """Autocast for float32 weights; nothing for weights already in half precision."""
        return nullcontext() if self.model_dtype is not None else self.precision.autocast()

    def _hooks(self, event: str, epoch: int) -> None:
        for hook in self.hooks:
            fn = getattr(hook, event, None)
            if fn is not None:
                fn(self, epoch)

    def train_epoch(self, loader, epoch: int, on_batch: Optional[Callable] = None, max_steps: Optional[int] = None) -> dict:
        """One pass over `loader` (or its first `max_steps` batches: the last epoch of a
        fractional --epochs); returns train_loss, train_<metric>, seconds, images/s."""
        self.model.train()
        loader.set_epoch(epoch)
        self._hooks("on_epoch_start", epoch)
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)  # exact counts, beyond float32's 2**24
        pixels = torch.zeros((), dtype=torch.int64, device=self.device)  # targets counted (pixels for segmentation)
        finite = torch.ones((), dtype=torch.bool, device=self.device)  # stays on the device: no sync per step
        seen = 0
        start = time.perf_counter()
        n_batches = len(loader) if max_steps is None else min(len(loader), max_steps)
        for i, (x, y) in enumerate(itertools.islice(loader, n_batches)):  # (B, C, H, W), (B,) | (B, H, W)
            with self.autocast():
                logits = self.train_forward(x)
                if self.model_dtype is not None:
                    logits = logits.float()  # (B, K): the loss in float32
                loss = self.loss_fn(logits, y)
            finite &= torch.isfinite(loss)
            if self.check_every and (i + 1) % self.check_every == 0:
                self._check_finite(finite, loss, epoch, i)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss * self.loss_scale if self.loss_scale != 1 else loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip * self.loss_scale)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.schedule is not None:
                self.schedule.step()
            self.step += 1
            self._hooks("on_step", epoch)
            with torch.no_grad():
                total_loss += loss.detach() * len(y)
                hit = logits.argmax(1) == y
                if self.ignore_index is not None:
                    valid = y != self.ignore_index
                    hit = hit & valid
                    pixels += valid.sum()
                else:
                    pixels += y.numel()
                correct += hit.sum()
            seen += len(y)
            if on_batch is not None:
                on_batch(epoch=epoch, batch=i + 1, batches=n_batches, loss=loss, seen=seen * self.dist.world,
                         seconds=time.perf_counter() - start)
        self._check_finite(finite, None, epoch, None)
        self._hooks("on_epoch_end", epoch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        if self.dist.active:  # totals over every rank's share of the epoch
            totals = self.dist.sum_(torch.stack([total_loss.double(), correct.double(), pixels.double(),
                                                 torch.tensor(float(seen), dtype=torch.float64, device=self.device)]))
            total_loss, correct, pixels, seen = totals[0], totals[1], totals[2], int(totals[3])
        metric = "accuracy" if self.task == "classification" else "pixel_accuracy"
        return {
            "train_loss": float(total_loss) / max(seen, 1),
            f"train_{metric}": float(correct) / max(float(pixels), 1.0),
            "train_seconds": seconds,
            "train_images": seen,
            "train_images_per_second": seen / seconds if seconds > 0 else math.nan,
        }

    def _check_finite(self, finite: torch.Tensor, loss: Optional[torch.Tensor], epoch: int, batch: Optional[int]) -> None:
        if not bool(finite):  # the one read-back: per step on CPU, per epoch on GPUs
            where = f"epoch {epoch + 1}, batch {batch + 1}" if batch is not None else f"epoch {epoch + 1}"
            value = f"{loss.item()}" if loss is not None else "non-finite"
            raise NonFiniteLoss(f"the loss became {value} in {where}; try {self._divergence_hints()}")

    def _divergence_hints(self) -> str:
        """Only the remedies this run has not used already (no '--precision fp32' on an fp32 run)."""
        hints = ["a lower --lr"]
        hints.append(f"a smaller --grad-clip than {self.grad_clip:g}" if self.grad_clip else "--grad-clip 1.0")
        if self.model_dtype is not None and self.model_dtype != torch.float32:
            hints.append("--model-dtype fp32")
        elif self.precision.name != "fp32":
            hints.append("--precision fp32")
        return ", ".join(hints[:-1]) + " or " + hints[-1]

    @torch.no_grad()
    def evaluate(self, loader, tta=None) -> dict:
        """Loss and metrics (cnnkit.engine.metrics) over a whole split, no augmentation
        beyond the TTA level (`tta`, default the trainer's)."""
        self.model.eval()
        tta = self.tta if tta is None else tta_level(tta)
        meter = make_meter(self.task, self.num_classes, self.ignore_index)
        for x, y in loader:
            with self.autocast():
                logits = forward_tta(self.forward, x, self.task, tta).float()
                loss = self.loss_fn(logits, y)
            meter.update(logits, y, loss.detach())  # counts stay on the device until compute()
        return self.dist.merge_meters(meter).compute()  # every rank's shard: each sample counted once

    # ------------------------------------------------------------ resumable state

    def state_dict(self) -> dict:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else {k: v for k, v in self.schedule.state_dict().items() if k != "lr_lambdas"},
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "step": self.step,
            "hooks": {type(h).__name__: h.state_dict() for h in self.hooks if hasattr(h, "state_dict")},
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None and state.get("schedule"):
            self.schedule.load_state_dict(dict(state["schedule"], lr_lambdas=[None] * len(self.optimizer.param_groups)))
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step = state.get("step", 0)
        for h in self.hooks:
            if hasattr(h, "load_state_dict") and type(h).__name__ in state.get("hooks", {}):
                h.load_state_dict(state["hooks"][type(h).__name__])


def rng_state() -> dict:
    """Every random stream a run draws from (dropout uses torch's global generator)."""
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        "numpy_pos": int(np.random.get_state()[2]),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state.get("python_pos")))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
