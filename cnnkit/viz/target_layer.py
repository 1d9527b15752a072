"""Which layer a figure uses: every module's output shape from one hooked forward pass,
the last feature map that still has a spatial extent, and error messages that list
the layers one could give instead."""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError


@torch.no_grad()
def output_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) for every named module, in the order outputs are produced
    (a container after its children); a module called twice appears twice."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, y, n=n: seen.append((n, tuple(y.shape))) if isinstance(y, torch.Tensor) else None)
             for n, m in model.named_modules() if n]
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def feature_map_layers(shapes: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    """Names of the modules that output a (N, C, H, W) feature map, in model order."""
    return list(dict.fromkeys(n for n, s in shapes if len(s) == 4))


def spatial_layer(model: nn.Module, x: torch.Tensor, preferred: str | None) -> tuple[str, tuple[int, int]]:
    """The layer Grad-CAM (and the default feature figure) should use for input x (1, C, H, W):
    the model spec's layer when its output is larger than 1x1 at this input, else the
    last module whose (N, C, H, W) output has H > 1 and W > 1 (a map of 1x1 is one
    number, constant over the image). Returns (name, (h, w)).

    For torchvision's resnet18 at 32x32, layer4 is 1x1 and layer3 (2x2) is chosen."""
    shapes = output_shapes(model, x)
    calls: dict[str, int] = {}
    for n, _ in shapes:
        calls[n] = calls.get(n, 0) + 1
    spatial = [(n, s[2:]) for n, s in shapes if len(s) == 4 and s[2] > 1 and s[3] > 1 and calls[n] == 1]
    for n, hw in spatial:
        if n == preferred:
            return n, tuple(hw)
    if not spatial:
        raise CnnkitError(f"no layer of this model keeps a spatial map larger than 1x1 for a {tuple(x.shape[1:])} input; "
                          "give a larger image or --layer")
    n, hw = spatial[-1]
    return n, tuple(hw)


def check_layer(model: nn.Module, x: torch.Tensor, layer: str) -> tuple[int, int]:
    """The (h, w) of a user-given layer's feature map; an error listing every layer that
    has one when the name is wrong or the layer outputs no feature map."""
    shapes = output_shapes(model, x)
    maps = feature_map_layers(shapes)
    if layer in maps:
        return tuple(next(s for n, s in shapes if n == layer)[2:])
    names = {n for n, _ in model.named_modules() if n}
    what = f"{layer} does not output a feature map (N, C, H, W)" if layer in names else f"no layer {layer!r} in this model"
    raise CnnkitError(f"{what}; layers with feature maps: {', '.join(maps)}")

