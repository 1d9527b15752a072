"""Bug: ReLU's backward adds the upstream gradient twice (dy + dy where the input was positive)."""

from torch_classes import *  # noqa: F403
from torch_classes import ReLU as _ReLU


class ReLU(_ReLU):
    def backward(self, dy):
        return (dy + dy) * (self.x > 0)
