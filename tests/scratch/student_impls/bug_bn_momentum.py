"""Bug: momentum applied the other way round (running = momentum * running + (1 - momentum) * batch)."""

from torch_classes import *  # noqa: F403
from torch_classes import BatchNorm2d as _BatchNorm2d


class BatchNorm2d(_BatchNorm2d):
    def forward(self, x):
        self.momentum = 1 - self.momentum
        try:
            return super().forward(x)
        finally:
            self.momentum = 1 - self.momentum
