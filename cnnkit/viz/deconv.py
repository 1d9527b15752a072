"""Zeiler & Fergus's deconvnet for one unit, beside guided backprop for the same unit.

"Visualizing and Understanding Convolutional Networks" (Zeiler & Fergus, 2014) takes the
strongest activation of one channel of one layer, sets every other activation of that
layer to zero, and projects it back to pixels: unpooling to the max's position
(the pooling "switches"), transposed convolution with the same filters, and ReLU on the
way down. That is the gradient of the one unit with respect to the input with each
ReLU's backward replaced by ReLU of the incoming signal, which is what Captum's
NeuronDeconvolution computes; NeuronGuidedBackprop keeps in addition the forward ReLU
mask (Springenberg et al., 2015). Both run on attribution.patched_copy (out-of-place,
one module per call site), so no "DeResNet" with copied weights is needed.

A unit at (i, j) of a layer sees only its receptive field; receptive_mask finds that
window from the network's structure, and the projections are zero outside it.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError
from cnnkit.viz.attribution import check_relus, patched_copy


def channel_map(model: nn.Module, x: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """(N, h, w): channel `channel` of `layer`'s output for the (N, C, H, W) batch x."""
    store = {}
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda _m, _i, y: store.__setitem__("y", y))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    y = store["y"]
    if y.ndim != 4:
        raise CnnkitError(f"{layer} does not output a feature map; pick a conv or activation layer")
    if not 0 <= channel < y.shape[1]:
        raise CnnkitError(f"--channel {channel} is out of range: {layer} has {y.shape[1]} channels (0..{y.shape[1] - 1})")
    return y[:, channel]


def strongest(model: nn.Module, x: torch.Tensor, layer: str, channel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of x (N, C, H, W): the largest activation of the channel (N,) and its
    (i, j) position in the layer's map (N, 2)."""
    maps = channel_map(model, x, layer, channel)  # (N, h, w)
    flat = maps.flatten(1)
    value, index = flat.max(dim=1)
    w = maps.shape[-1]
    return value, torch.stack([index // w, index % w], dim=1)


def _neuron_net(model: nn.Module, layer: str) -> tuple[nn.Module, nn.Module]:
    """The patched copy and its module named `layer`. Tracing keeps leaf modules under their
    names; a container (a ResNet block) is flattened away, so it gets the untraced copy."""
    for split in (True, False):
        net = patched_copy(model, split_reused=split)
        modules = dict(net.named_modules())
        if layer in modules and not list(modules[layer].children()):
            return net, modules[layer]
    net = patched_copy(model, split_reused=False)
    return net, dict(net.named_modules())[layer]


def project(model: nn.Module, x: torch.Tensor, layer: str, channel: int, position) -> dict:
    """{'deconvolution': (C, H, W), 'guided-backprop': (C, H, W)}: the unit (channel, i, j)
    of `layer` for the single input x (1, C, H, W), projected back to the input (Captum)."""
    from captum import attr

    check_relus(model, "deconvolution")
    net, module = _neuron_net(model, layer)
    selector = (int(channel), int(position[0]), int(position[1]))
    out = {}
    with warnings.catch_warnings():  # Captum warns about hooks and requires_grad on every call
        warnings.simplefilter("ignore", UserWarning)
        for name, method in (("deconvolution", attr.NeuronDeconvolution), ("guided-backprop", attr.NeuronGuidedBackprop)):
            a = method(net, module).attribute(x.clone().requires_grad_(True), neuron_selector=selector)
            out[name] = a[0].detach()
    return out


def receptive_mask(model: nn.Module, input_shape, layer: str, channel: int, position) -> torch.Tensor:
    """(H, W) bool: the input pixels unit (channel, i, j) of `layer` depends on, from the
    structure alone: on a copy whose activations are the identity, max-pools averaging
    pools of the same window, normalisation removed and weights made positive, the
    gradient of the unit is non-zero exactly on its receptive field (clipped to the image)."""
    net = copy.deepcopy(model).eval().double()
    for m in list(net.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(m, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
            elif isinstance(child, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Dropout,
                                    nn.modules.batchnorm._BatchNorm)):
                setattr(m, child_name, nn.Identity())
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() + 1e-3)
    store = {}
    dict(net.named_modules())[layer].register_forward_hook(lambda _m, _i, y: store.__setitem__("y", y))
    x = torch.ones(1, *input_shape, dtype=torch.float64, requires_grad=True)
    net(x)
    store["y"][0, channel, position[0], position[1]].backward()
    return x.grad[0].abs().sum(0) > 0


def mask_box(mask: torch.Tensor) -> list[int]:
    """[top, left, bottom, right] (inclusive) of the True pixels of an (H, W) mask."""
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    return [int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])]


def deconv_figure(rows: list[dict], title: str):
    """One row per image: the image with the unit's receptive field boxed, the deconvnet
    projection and the guided-backprop projection, each on its own symmetric scale
    (grey = 0; colour images show the signal's RGB, grey images red + / blue -)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(8.4, 2.6 * len(rows) + 0.7), layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for r, row in enumerate(rows):
        img = row["image"].float() / 255  # (C, H, W)
        grey = img.shape[0] == 1
        axes[r, 0].imshow(img[0].numpy() if grey else img.permute(1, 2, 0).numpy(), cmap="gray" if grey else None,
                          vmin=0, vmax=1, interpolation="nearest")
        t, left, b, rt = row["receptive_field"]
        for ax in axes[r]:
            ax.add_patch(Rectangle((left - 0.5, t - 0.5), rt - left + 1, b - t + 1, fill=False, ec="yellow", lw=1.2))
        axes[r, 0].set_title(f"{row['label']}\nmax {row['value']:.2f} at ({row['position'][0]}, {row['position'][1]})",
                             fontsize=8)
        for c, key in ((1, "deconvolution"), (2, "guided-backprop")):
            m = row[key]
            peak = float(m.abs().max().clamp_min(1e-12))
            if grey:
                axes[r, c].imshow(m[0].numpy(), cmap="RdBu_r", vmin=-peak, vmax=peak, interpolation="nearest")
            else:
                axes[r, c].imshow((m / peak * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            if r == 0:
                axes[r, c].set_title({"deconvolution": "deconvnet (Zeiler & Fergus)",
                                      "guided-backprop": "guided backprop"}[key] + "\n(grey = 0, own scale)", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return fig
