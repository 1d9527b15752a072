"""Bug: the convolution never pads its input."""

from numpy_functions import *  # noqa: F403
from numpy_functions import conv_backward_naive as _conv_backward_naive
from numpy_functions import conv_forward_naive as _conv_forward_naive


def conv_forward_naive(x, w, b, conv_param):
    return _conv_forward_naive(x, w, b, dict(conv_param, pad=0))


def conv_backward_naive(dout, cache):
    return _conv_backward_naive(dout, cache)
