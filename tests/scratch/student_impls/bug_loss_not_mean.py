"""Bug: the loss is a mean but its gradient is not divided by N."""

from numpy_functions import *  # noqa: F403
from numpy_functions import softmax_loss as _softmax_loss


def softmax_loss(x, y):
    loss, dx = _softmax_loss(x, y)
    return loss, dx * x.shape[0]
