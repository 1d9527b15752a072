"""Bug: in eval mode batch norm still normalises with the batch's statistics."""

from torch_classes import *  # noqa: F403
from torch_classes import BatchNorm1d as _BatchNorm1d


class BatchNorm1d(_BatchNorm1d):
    def forward(self, x):
        mode, self.mode = self.mode, "train"
        running = self.running_mean, self.running_var
        try:
            return super().forward(x)
        finally:
            self.mode = mode
            if mode != "train":
                self.running_mean, self.running_var = running
