"""Bug: the sigmoid's gradient has the wrong sign."""

from torch_classes import *  # noqa: F403
from torch_classes import Sigmoid as _Sigmoid


class Sigmoid(_Sigmoid):
    def backward(self, dy):
        return -dy * self.y * (1 - self.y)
