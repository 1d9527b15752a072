"""Bug: the running mean and variance are replaced by the batch's instead of blended in with momentum."""

import torch
from torch_classes import *  # noqa: F403
from torch_classes import BatchNorm2d as _BatchNorm2d


class BatchNorm2d(_BatchNorm2d):
    def forward(self, x):
        if not self.is_training():
            return super().forward(x)
        mean, var = x.mean(self.dims), x.var(self.dims, unbiased=False)
        self.running_mean, self.running_var = mean, x.var(self.dims, unbiased=True)
        self.train_step = True
        self.inv = 1 / torch.sqrt(self._b(var) + self.eps)
        self.xhat = (x - self._b(mean)) * self.inv
        return self._b(self.gamma) * self.xhat + self._b(self.beta)
