"""Bug: dropout keeps values unscaled (no 1 / (1 - p))."""

import torch
from torch_classes import *  # noqa: F403
from torch_classes import Dropout as _Dropout


class Dropout(_Dropout):
    def forward(self, x):
        if not self.training:
            return x
        self.mask = (torch.rand(x.shape, dtype=x.dtype) >= self.p).to(x.dtype)
        return x * self.mask
