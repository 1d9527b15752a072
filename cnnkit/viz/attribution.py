"""Attributions through Captum, on a patched copy of the model.

Captum's guided backprop and deconvolution replace the gradient of every ReLU
*module*; an in-place ReLU or one module used twice (torchvision's BasicBlock calls
self.relu twice) breaks those hooks. So attribution runs on a deep copy in which
every nn.ReLU is out-of-place and every reuse gets its own module instance.
"""

from __future__ import annotations

import copy

import torch
import torch.fx
import torch.nn as nn

from cnnkit.errors import CnnkitError

METHODS = ("saliency", "guided-backprop", "deconvolution", "gradcam", "integrated-gradients", "occlusion")


def patched_copy(model: nn.Module, split_reused: bool = True) -> nn.Module:
    """A copy with out-of-place ReLUs and (split_reused) one module per call site,
    where torch.fx can trace the model. Tracing flattens container modules, so a
    method that hooks a container (Grad-CAM) asks for split_reused=False."""
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    if not split_reused:
        return model
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # untraceable models keep their modules (out-of-place already)
        return model
    seen: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module" and isinstance(traced.get_submodule(node.target), nn.ReLU):
            seen[node.target] = seen.get(node.target, 0) + 1
            if seen[node.target] > 1:  # a reused ReLU: give this call site its own copy
                name = f"{node.target.replace('.', '_')}_use{seen[node.target]}"
                traced.add_submodule(name, nn.ReLU())
                node.target = name
    traced.recompile()
    return traced


def attribute(model: nn.Module, x: torch.Tensor, method: str, target: int, layer: str | None = None) -> torch.Tensor:
    """(H, W) attribution map for class `target` of the single input x (1, C, H, W).

    Pixel methods are summed over channels (sign kept); Grad-CAM is upsampled from
    `layer` to the input size."""
    from captum import attr

    if method not in METHODS:
        raise CnnkitError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    net = patched_copy(model, split_reused=method in ("guided-backprop", "deconvolution"))
    x = x.clone().requires_grad_(True)
    if method == "saliency":
        a = attr.Saliency(net).attribute(x, target=target, abs=False)
    elif method == "guided-backprop":
        a = attr.GuidedBackprop(net).attribute(x, target=target)
    elif method == "deconvolution":
        a = attr.Deconvolution(net).attribute(x, target=target)
    elif method == "integrated-gradients":
        a = attr.IntegratedGradients(net).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=32)
    elif method == "occlusion":
        h = x.shape[-1]
        win = max(2, h // 8)
        a = attr.Occlusion(net).attribute(x, target=target, sliding_window_shapes=(x.shape[1], win, win),
                                          strides=(x.shape[1], max(1, win // 2), max(1, win // 2)), baselines=0)
    else:
        if layer is None:
            raise CnnkitError("Grad-CAM needs a layer (the model spec's gradcam_layer)")
        modules = dict(net.named_modules())
        if layer not in modules:
            raise CnnkitError(f"no layer {layer!r} in this model for Grad-CAM")
        cam = attr.LayerGradCam(net, modules[layer]).attribute(x, target=target, relu_attributions=True)
        return attr.LayerAttribution.interpolate(cam, x.shape[-2:], interpolate_mode="bilinear")[0, 0].detach()
    return a[0].sum(0).detach()  # (H, W)


def plot_attribution(image: torch.Tensor, amap: torch.Tensor, path, title: str):
    """Image, the map (diverging, symmetric around 0) and the map over the image."""

    from cnnkit.viz.plots import agg_pyplot

    plt = agg_pyplot()

    img = image.float() / 255
    rgb = img.expand(3, -1, -1).permute(1, 2, 0) if img.shape[0] == 1 else img.permute(1, 2, 0)
    limit = float(amap.abs().max().clamp_min(1e-12))
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6))
    axes[0].imshow(rgb.numpy())
    axes[0].set_title("input", fontsize=9)
    im = axes[1].imshow(amap.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[1].set_title("attribution", fontsize=9)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    axes[2].imshow(rgb.numpy())
    axes[2].imshow(amap.abs().numpy(), cmap="inferno", alpha=0.55)
    axes[2].set_title("|attribution| over the input", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    from cnnkit.viz.plots import save_figure

    return save_figure(fig, path)
