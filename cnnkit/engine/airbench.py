"""airbench94's CIFAR-10 speed-run method (Keller Jordan, 2024) as trainer hooks and
model/optimiser settings of the one training loop, each a named option of TrainConfig
(the cifar-speedrun recipe turns them on) so a sweep can switch any of them off.

* `Lookahead`: every `every` steps from epoch `start_epoch`, an average of the weights
  (and batch-norm statistics) moves towards the live weights by 1 - rho and the live
  weights are reset to it; rho = base**every * (step / total_steps)**power grows from
  0 to base**every over training, so the average follows closely early and smooths
  strongly at the end. At each epoch's end the weights are set to the average.
* `FreezeAfter`: parameters trained for the first N epochs, then frozen (airbench
  stops training the whitening layer's bias after 3 epochs).
* `batchnorm_biases`: the batch-norm shifts, which airbench trains with a 64x larger
  learning rate (but the same weight decay per step).
* `set_bn_momentum`: PyTorch's BN momentum is the weight of the new batch's
  statistics; airbench's "momentum 0.6" keeps 0.6 of the old ones, PyTorch's 0.4.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError


class Lookahead:
    def __init__(self, model: nn.Module, every: int = 5, start_epoch: float = 3, base: float = 0.95, power: float = 3.0):
        if every < 1:
            raise CnnkitError("--lookahead-every must be at least 1")
        self.model, self.every, self.start_epoch, self.base, self.power = model, every, start_epoch, base, power
        self.average: Optional[list[torch.Tensor]] = None

    def _live(self) -> list[torch.Tensor]:
        # floating point entries of the state dict: weights and BN running statistics, not step counters
        return [t for t in self.model.state_dict().values() if t.is_floating_point()]

    def rho(self, step: int, total_steps: int) -> float:
        """How much of the average is kept at optimiser step `step` (1-based) of `total_steps`."""
        return self.base**self.every * (step / max(total_steps, 1)) ** self.power

    @torch.no_grad()
    def on_step(self, trainer, epoch: int) -> None:
        if epoch < self.start_epoch or trainer.step % self.every:
            return
        live = self._live()
        if self.average is None:  # the first qualifying step starts the average at the live weights
            self.average = [t.detach().clone() for t in live]
            return
        torch._foreach_lerp_(self.average, live, 1 - self.rho(trainer.step, trainer.total_steps))  # avg += (1-rho)(live-avg)
        torch._foreach_copy_(live, self.average)

    @torch.no_grad()
    def on_epoch_end(self, trainer, epoch: int) -> None:
        if self.average is not None:
            torch._foreach_copy_(self._live(), self.average)

    def state_dict(self) -> dict:
        return {"average": None if self.average is None else [t.cpu() for t in self.average]}

    def load_state_dict(self, state: dict) -> None:
        avg = state.get("average")
        self.average = None if avg is None else [a.to(t) for a, t in zip(avg, self._live())]


class FreezeAfter:
    """Train `params` during the first `epochs` epochs, then stop: they get no gradient,
    so the optimiser skips them (no momentum, no weight decay)."""

    def __init__(self, params: list[nn.Parameter], epochs: int):
        self.params, self.epochs = params, epochs

    def on_epoch_start(self, trainer, epoch: int) -> None:
        for p in self.params:
            p.requires_grad_(epoch < self.epochs)


def whitening_biases(model: nn.Module, model_name: str) -> list[nn.Parameter]:
    """The biases of the model's data-whitening layers (the `whiten` option)."""
    from cnnkit.models.whitening import WhiteningConv

    biases = [m.bias for m in model.modules() if isinstance(m, WhiteningConv) and m.bias is not None]
    if not biases:
        raise CnnkitError(f"whiten_bias_epochs (--whiten-bias-epochs, set by the cifar-speedrun recipe): {model_name} has no "
                          "whitening layer; use it with airbench (or a speednet with --opt whiten=true), or give "
                          "--whiten-bias-epochs 0")
    return biases


def batchnorm_biases(model: nn.Module) -> set[int]:
    """ids of the trainable shifts (biases) of every batch-norm layer."""
    return {id(m.bias) for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None and m.bias.requires_grad}


def set_bn_momentum(model: nn.Module, momentum: float) -> int:
    """Set PyTorch momentum (the weight of each new batch's statistics) on every BN layer; returns how many."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m.momentum = momentum
    return len(layers)


def to_model_dtype(model: nn.Module, dtype: Optional[torch.dtype]) -> nn.Module:
    """Weights in `dtype` (half precision), batch norm kept in float32 as airbench does
    (its statistics need the range, and cuDNN takes half inputs with float BN)."""
    if dtype is None:
        return model
    model.to(dtype)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.float()
    return model
