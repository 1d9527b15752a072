"""Weight initialisation by name, for conv and linear layers.

'default' keeps PyTorch's own initialisation (kaiming-uniform with a = sqrt(5)),
which the CIFAR-10 coursework calls "kaiming uniform".
"""

from __future__ import annotations

import torch.nn as nn

from cnnkit.errors import CnnkitError

INITS = {
    "default": None,
    "kaiming-uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming-normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "xavier-uniform": nn.init.xavier_uniform_,
    "xavier-normal": nn.init.xavier_normal_,
    "orthogonal": nn.init.orthogonal_,
}


def init_weights(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise conv/linear weights with `scheme`, biases to zero."""
    if scheme not in INITS:
        raise CnnkitError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    fn = INITS[scheme]
    if fn is None:
        return model
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
            fn(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
