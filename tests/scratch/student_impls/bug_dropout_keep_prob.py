"""Bug: p is taken as the probability of keeping a value (PyTorch's p is of dropping it)."""

import torch
from torch_classes import *  # noqa: F403
from torch_classes import Dropout as _Dropout


class Dropout(_Dropout):
    def forward(self, x):
        if not self.training:
            return x
        self.mask = (torch.rand(x.shape, dtype=x.dtype) < self.p) / self.p
        return x * self.mask
