"""The training loop: one epoch of optimisation, one pass of evaluation, and the
state a resumed run needs. Small on purpose (nanoGPT / airbench style): the run
orchestration (data, run directory, checkpoints, early stopping) lives in
`cnnkit.engine.train`, and progress display is a callback.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from cnnkit.engine.device import Precision
from cnnkit.engine.distributed import Dist
from cnnkit.engine.metrics import make_meter
from cnnkit.errors import RunFailure


class NonFiniteLoss(RunFailure):
    pass


def forward_tta(forward, x: torch.Tensor, task: str, tta: bool) -> torch.Tensor:
    """Logits of x, averaged with those of its mirror image when tta (the CIFAR speed
    runs do this); segmentation logits are mirrored back before averaging."""
    logits = forward(x)
    if tta:
        mirrored = forward(x.flip(-1))
        logits = (logits + (mirrored.flip(-1) if task == "segmentation" else mirrored)) / 2
    return logits


class Trainer:
    def __init__(self, model: nn.Module, loss_fn: nn.Module, task: str, num_classes: int, device: torch.device,
                 precision: Precision, ignore_index: Optional[int] = None, grad_clip: Optional[float] = None,
                 compiled: Optional[nn.Module] = None, tta: bool = False, dist: Optional[Dist] = None,
                 train_forward: Optional[nn.Module] = None):
        self.model = model  # the module whose state_dict is saved
        # what evaluates (maybe torch.compile'd; `or` would call the compiled module's __len__)
        self.forward = compiled if compiled is not None else model
        # what trains: the same, or DistributedDataParallel around it (whose forward
        # takes part in collectives, so evaluation, uneven across ranks, never uses it)
        self.train_forward = train_forward if train_forward is not None else self.forward
        self.dist = dist or Dist()
        self.loss_fn = loss_fn
        self.tta = tta
        self.task, self.num_classes, self.ignore_index = task, num_classes, ignore_index
        self.device, self.precision, self.grad_clip = device, precision, grad_clip
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.schedule = None  # per-step LambdaLR
        self.plateau = None  # epoch-level ReduceLROnPlateau
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler)
        # On CPU every loss is checked at once; on GPUs every 25 steps, to avoid a sync per step.
        self.check_every = 1 if device.type == "cpu" else 25

    def train_epoch(self, loader, epoch: int, on_batch: Optional[Callable] = None) -> dict:
        """One pass over `loader`; returns train_loss, train_<metric>, seconds, images/s."""
        self.model.train()
        loader.set_epoch(epoch)
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)  # exact counts, beyond float32's 2**24
        pixels = torch.zeros((), dtype=torch.int64, device=self.device)  # targets counted (pixels for segmentation)
        seen = 0
        start = time.perf_counter()
        n_batches = len(loader)
        for i, (x, y) in enumerate(loader):
            with self.precision.autocast():
                logits = self.train_forward(x)
                loss = self.loss_fn(logits, y)
            if (i + 1) % self.check_every == 0 or i + 1 == n_batches:
                if not torch.isfinite(loss).item():
                    raise NonFiniteLoss(
                        f"the loss became {loss.item()} in epoch {epoch + 1}, batch {i + 1} (or shortly before); "
                        "try a lower --lr, --grad-clip 1.0, or --precision fp32"
                    )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.schedule is not None:
                self.schedule.step()
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

    @torch.no_grad()
    def evaluate(self, loader) -> dict:
        """Loss and metrics (cnnkit.engine.metrics) over a whole split, no augmentation."""
        self.model.eval()
        meter = make_meter(self.task, self.num_classes, self.ignore_index)
        for x, y in loader:
            with self.precision.autocast():
                logits = forward_tta(self.forward, x, self.task, self.tta)
                loss = self.loss_fn(logits, y)
            meter.update(logits.float(), y, float(loss))
        return self.dist.merge_meters(meter).compute()  # every rank's shard: each sample counted once

    # ------------------------------------------------------------ resumable state

    def state_dict(self) -> dict:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else {k: v for k, v in self.schedule.state_dict().items() if k != "lr_lambdas"},
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
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
