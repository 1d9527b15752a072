"""Bug: the bias gradient averages dy over the batch; the loss's mean is already inside dy."""

from torch_classes import *  # noqa: F403
from torch_classes import Linear as _Linear


class Linear(_Linear):
    def backward(self, dy):
        dx = super().backward(dy)
        if self.b is not None:
            self.db = dy.mean(0)
        return dx
