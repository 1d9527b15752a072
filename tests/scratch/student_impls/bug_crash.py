"""Bug: backward uses an attribute forward never set (a crash, not a mismatch)."""

from numpy_classes import *  # noqa: F403
from numpy_classes import ReLU as _ReLU


class ReLU(_ReLU):
    def backward(self, dLdA):
        return dLdA * (self.Z > 0)
