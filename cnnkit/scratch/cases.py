"""The configurations each layer is checked in: PyTorch's module and arguments, the input
shape, where finite differences must not probe (kinks), and the traits (stride, padding,
...) that let a verdict say "fails only with stride > 1"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

FD_STEP = 1e-6


@dataclass
class Case:
    layer: str
    config: str
    kwargs: dict  # PyTorch's constructor arguments, explicit even where they are defaults
    input_shape: tuple
    torch_cls: Optional[type]  # None: no torch module (Dropout is checked through its mask)
    kinks: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # bool mask of inputs near a kink
    mode: str = "train"

    def torch_module(self, **override) -> Optional[nn.Module]:
        return None if self.torch_cls is None else self.torch_cls(**{**self.kwargs, **override})

    @property
    def features(self) -> dict:
        k = self.kwargs
        stride = k.get("stride", 1)
        pooled = self.layer.endswith("Pool2d")
        return {"stride": stride != (k["kernel_size"] if pooled else 1), "padding": k.get("padding", 0) != 0,
                "dilation": k.get("dilation", 1) != 1, "groups": k.get("groups", 1) != 1, "no bias": k.get("bias") is False,
                "exclude pad": k.get("count_include_pad") is False, "eval": self.mode == "eval",
                "output_padding": k.get("output_padding", 0) != 0}


def _relu_kink(x):
    return x.abs() < 10 * FD_STEP


def _pool_ties(kw):
    """Inputs in a window whose top two values are within the probe step: the max may flip."""

    def kinks(x):
        n, ch, h, w = x.shape
        k, s, p = kw["kernel_size"], kw.get("stride") or kw["kernel_size"], kw.get("padding", 0)
        cols = F.unfold(F.pad(x.reshape(n * ch, 1, h, w), (p,) * 4, value=-1e9), k, stride=s)  # (NC, k*k, L)
        top2 = cols.topk(2, dim=1).values
        close = (top2[:, 0] - top2[:, 1]).abs() < 10 * FD_STEP  # (NC, L)
        mask = F.fold((close[:, None, :] * torch.ones_like(cols)).to(x.dtype), (h + 2 * p, w + 2 * p), k, stride=s) > 0
        return mask[:, 0, p : p + h, p : p + w].reshape(x.shape)

    return kinks


def cases() -> list[Case]:
    conv = dict(stride=1, padding=0, dilation=1, groups=1, bias=True)
    c = []
    for cfg, kw, shape in (
        ("k3 s1 p1", dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 7, 7)),
        ("k3 s2 p0", dict(in_channels=5, out_channels=3, kernel_size=3, stride=2), (4, 5, 9, 8)),  # batch != stride
        ("k5 p2 no bias", dict(in_channels=1, out_channels=2, kernel_size=5, padding=2, bias=False), (2, 1, 6, 6)),
        # dilation and groups apart, so a layer with one of them is still checked on it
        ("k3 p1 groups2", dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2), (2, 4, 5, 5)),
        ("k2 p2 d2", dict(in_channels=2, out_channels=3, kernel_size=2, padding=2, dilation=2), (1, 2, 6, 5)),
    ):
        c.append(Case("Conv2d", cfg, {**conv, **kw}, shape, nn.Conv2d))
    convt = dict(stride=1, padding=0, output_padding=0, bias=True)
    for cfg, kw, shape in (
        ("k2 s2", dict(in_channels=2, out_channels=3, kernel_size=2, stride=2), (1, 2, 3, 3)),
        ("k3 s2 p1 op1", dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    ):
        c.append(Case("ConvTranspose2d", cfg, {**convt, **kw}, shape, nn.ConvTranspose2d))
    c.append(Case("Linear", "8 -> 5", dict(in_features=8, out_features=5, bias=True), (4, 8), nn.Linear))
    c.append(Case("Linear", "3 -> 2 no bias", dict(in_features=3, out_features=2, bias=False), (5, 3), nn.Linear))
    # batch, channels, kernel (and k*k), stride and spatial sizes all differ, so a wrong factor names one
    # cause: with batch 2 and k 2, a backward divided by k instead of k*k looked like "scaled by the batch size"
    for cfg, kw, shape in (("k2", dict(kernel_size=2, stride=2, padding=0), (5, 3, 6, 6)),
                           ("k3 s2 p1", dict(kernel_size=3, stride=2, padding=1), (5, 4, 7, 7))):
        c.append(Case("MaxPool2d", cfg, kw, shape, nn.MaxPool2d, kinks=_pool_ties(kw)))
    for cfg, kw, shape in (
        ("k2", dict(kernel_size=2, stride=2, padding=0), (5, 3, 6, 6)),
        ("k3 s2 p1 include pad", dict(kernel_size=3, stride=2, padding=1, count_include_pad=True), (5, 4, 7, 7)),
        ("k3 s2 p1 exclude pad", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (5, 4, 7, 7)),
    ):
        c.append(Case("AvgPool2d", cfg, kw, shape, nn.AvgPool2d))
    c.append(Case("ReLU", "", {}, (3, 4, 5), nn.ReLU, kinks=_relu_kink))
    c.append(Case("LeakyReLU", "slope 0.1", dict(negative_slope=0.1), (3, 4, 5), nn.LeakyReLU, kinks=_relu_kink))
    c.append(Case("ELU", "alpha 1.0", dict(alpha=1.0), (3, 4, 5), nn.ELU))
    c.append(Case("ELU", "alpha 0.5", dict(alpha=0.5), (3, 4, 5), nn.ELU))
    c.append(Case("Sigmoid", "", {}, (3, 7), nn.Sigmoid))
    c.append(Case("Tanh", "", {}, (3, 7), nn.Tanh))
    for mode in ("train", "eval"):
        bn = dict(eps=1e-5, momentum=0.1)
        c.append(Case("BatchNorm2d", mode, dict(num_features=3, **bn), (4, 3, 5, 5), nn.BatchNorm2d, mode=mode))
        c.append(Case("BatchNorm1d", mode, dict(num_features=6, **bn), (8, 6), nn.BatchNorm1d, mode=mode))
    c.append(Case("Dropout", "p 0.3", dict(p=0.3), (6, 50), None))
    c.append(Case("Flatten", "", {}, (2, 3, 4, 5), nn.Flatten))
    return c


@dataclass
class LossCase:
    config: str
    shape: tuple
    target_shape: tuple
    ignore_index: Optional[int] = None
    scale: float = 1.0
    optional: bool = False  # a crash here (e.g. (N, K, H, W) logits) is "not checked", not an error
    extra: dict = field(default_factory=dict)
    offset: float = 0.0  # added to every logit: large values, same gaps
    # Probes a float64 limit rather than a bug: logit gaps past ~745 make exp(z - max) underflow
    # to 0, so softmax-then-log gives log(0) = -inf although it is right for every realistic
    # logit. A loss that is off here only by that underflow passes, with a note.
    limit: bool = False


CE_CASES = [LossCase("classes", (8, 5), (8,)),
            # logits near 1000 (exp(1000) overflows) with realistic gaps (tens): exact for
            # any softmax that subtracts the row maximum, inf/inf = nan for one that does not
            LossCase("large logits", (6, 4), (6,), scale=10.0, offset=1000.0),
            LossCase("logit gaps past 745", (6, 4), (6,), scale=1000.0, limit=True),
            LossCase("ignore 255", (8, 5), (8,), ignore_index=255),
            LossCase("pixels (N, K, H, W)", (2, 4, 3, 3), (2, 3, 3), optional=True)]
