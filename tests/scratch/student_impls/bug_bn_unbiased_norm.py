"""Bug: the batch is normalised with the unbiased variance (N-1), as np.var(ddof=1) or
torch.var's default gives; PyTorch normalises with the biased one (N)."""

import numpy as np
from numpy_classes import *  # noqa: F403
from numpy_classes import BatchNorm1d as _BatchNorm1d


class BatchNorm1d(_BatchNorm1d):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0, ddof=1)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
        self.inv = 1 / np.sqrt(var + self.eps)
        self.xhat = (x - mean) * self.inv
        self.was_training = True
        self.n = n
        return self.gamma * self.xhat + self.beta
