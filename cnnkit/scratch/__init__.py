"""From-scratch layers with hand-written backward passes, and the gradient checker.

Every layer follows one small interface (docs/gradcheck.md):

    layer.params: dict[str, Tensor]     # e.g. {"weight": ..., "bias": ...}
    layer.grads:  dict[str, Tensor]     # filled by backward, same keys
    y = layer.forward(x)                # caches what backward needs
    dx = layer.backward(dy)             # dL/dx from dL/dy

Plain torch tensors, no autograd: the point is to see every derivative.
"""

from cnnkit.scratch.layers import (  # noqa: F401
    ELU,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from cnnkit.scratch.losses import MSELoss, SoftmaxCrossEntropy  # noqa: F401
from cnnkit.scratch.net import SGD, Adam, Sequential  # noqa: F401
