"""Small building blocks shared by the model builders."""

from __future__ import annotations

import torch.nn as nn

from cnnkit.errors import CnnkitError

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def activation(name: str) -> nn.Module:
    key = name.replace("-", "_").lower()
    if key not in ACTIVATIONS:
        raise CnnkitError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


def conv_bn_act(c_in: int, c_out: int, k: int = 3, batchnorm: bool = True, act: str = "relu") -> list[nn.Module]:
    """[conv (same padding), batch norm?, activation] as a list to splice into a Sequential."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(activation(act))
    return layers
