"""Bug: batch norm normalises with the batch statistics but never updates the running ones."""

import torch
from torch_classes import *  # noqa: F403
from torch_classes import BatchNorm2d as _BatchNorm2d


class BatchNorm2d(_BatchNorm2d):
    def forward(self, x):
        if not self.is_training():
            return super().forward(x)
        mean, var = x.mean(self.dims), x.var(self.dims, unbiased=False)
        self.train_step = True
        self.inv = 1 / torch.sqrt(self._b(var) + self.eps)
        self.xhat = (x - self._b(mean)) * self.inv
        return self._b(self.gamma) * self.xhat + self._b(self.beta)
