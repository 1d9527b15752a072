"""Attributions through Captum, on a patched copy of the model.

Captum's guided backprop and deconvolution replace the gradient of every ReLU
*module*; an in-place ReLU or one module used twice (torchvision's BasicBlock calls
self.relu twice) breaks those hooks. So attribution runs on a deep copy in which
every nn.ReLU is out-of-place and every reuse gets its own module instance.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.fx
import torch.nn as nn

from cnnkit.errors import CnnkitError

METHODS = ("saliency", "guided-backprop", "deconvolution", "gradcam", "integrated-gradients", "occlusion")
RELU_METHODS = ("guided-backprop", "deconvolution")  # they only change the backward pass of nn.ReLU modules


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


def check_relus(model: nn.Module, method: str, model_name: str = "this model") -> None:
    """Guided backprop and deconvolution differ from the plain gradient only at nn.ReLU
    modules; without any, their map *is* the saliency map, so refuse rather than
    show it under another name."""
    if method in RELU_METHODS and not any(isinstance(m, nn.ReLU) for m in model.modules()):
        acts = sorted({type(m).__name__ for m in model.modules()
                       if type(m).__module__.startswith("torch.nn.modules.activation")})
        uses = f" (it uses {', '.join(acts)})" if acts else ""
        raise CnnkitError(f"{method} changes the backward pass of ReLU layers and {model_name} has none{uses}, "
                          "so its map would equal saliency; use --method saliency or gradcam")


def unit(method: str, class_name: str) -> str:
    """What one value of the map means (the colorbar label)."""
    return {"saliency": f"d logit({class_name}) / d pixel",
            "guided-backprop": "guided gradient (ReLU-masked)",
            "deconvolution": "deconvolution signal",
            "gradcam": "Grad-CAM (>= 0)",
            "integrated-gradients": f"contribution to logit({class_name}) vs mean-colour image",
            "occlusion": f"drop in p({class_name}) when covered"}[method]


def attribute(model: nn.Module, x: torch.Tensor, method: str, target: int, layer: str | None = None) -> dict:
    """{'map': (H, W), 'map_size': (h, w)} for class `target` of the single input x (1, C, H, W).

    Pixel methods are summed over channels (sign kept) and map_size is the input's;
    Grad-CAM is computed on `layer` (map_size is its (h, w)) and upsampled bilinearly
    to the input size. Occlusion measures the drop of the class *probability* when a
    window is set to 0 (the mean colour after normalisation)."""
    from captum import attr

    if method not in METHODS:
        raise CnnkitError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_relus(model, method)
    net = patched_copy(model, split_reused=method in RELU_METHODS)
    x = x.clone().requires_grad_(True)
    size = tuple(x.shape[-2:])
    with warnings.catch_warnings():  # Captum warns about hooks and requires_grad on every call
        warnings.simplefilter("ignore", UserWarning)
        if method == "saliency":
            a = attr.Saliency(net).attribute(x, target=target, abs=False)
        elif method == "guided-backprop":
            a = attr.GuidedBackprop(net).attribute(x, target=target)
        elif method == "deconvolution":
            a = attr.Deconvolution(net).attribute(x, target=target)
        elif method == "integrated-gradients":
            a = attr.IntegratedGradients(net).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=32)
        elif method == "occlusion":
            win = max(2, min(size) // 8)
            prob = nn.Sequential(net, nn.Softmax(dim=1))  # the unit the figure's title uses
            a = attr.Occlusion(prob).attribute(x, target=target, sliding_window_shapes=(x.shape[1], win, win),
                                               strides=(x.shape[1], max(1, win // 2), max(1, win // 2)), baselines=0)
        else:
            if layer is None:
                raise CnnkitError("Grad-CAM needs a layer (the model spec's gradcam_layer)")
            modules = dict(net.named_modules())
            if layer not in modules:
                raise CnnkitError(f"no layer {layer!r} in this model for Grad-CAM")
            cam = attr.LayerGradCam(net, modules[layer]).attribute(x, target=target, relu_attributions=True)  # (1, 1, h, w)
            up = attr.LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")
            return {"map": up[0, 0].detach().clamp_min(0), "map_size": tuple(cam.shape[-2:])}
    return {"map": a[0].sum(0).detach(), "map_size": size}  # (H, W)


def attribution_figure(image: torch.Tensor, amap: torch.Tensor, title: str, label: str, signed: bool = True):
    """Input, the map with a colorbar, and the map over the input on the same scale.

    Signed maps (gradients) use a diverging scale symmetric around 0 and the overlay
    shows |map|; non-negative maps (Grad-CAM) a sequential scale from 0, in both panels."""
    from matplotlib.figure import Figure

    img = image.float() / 255
    rgb = img.expand(3, -1, -1).permute(1, 2, 0) if img.shape[0] == 1 else img.permute(1, 2, 0)
    fig = Figure(figsize=(11, 4.0), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb.numpy())
    axes[0].set_title("input (as the model sees it)", fontsize=9)
    peak = float(amap.abs().max())
    limit = max(peak, 1e-12)
    if signed:
        im = axes[1].imshow(amap.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[1].set_title("attribution (red +, blue -)", fontsize=9)
        over, over_label = amap.abs(), f"|{label}|"
    else:
        im = axes[1].imshow(amap.numpy(), cmap="inferno", vmin=0, vmax=limit)
        axes[1].set_title("attribution", fontsize=9)
        over, over_label = amap, label
    fig.colorbar(im, ax=axes[1], shrink=0.8).set_label(label, fontsize=8)
    axes[2].imshow(rgb.numpy())
    ov = axes[2].imshow(over.numpy(), cmap="inferno", vmin=0, vmax=limit, alpha=0.55)
    fig.colorbar(ov, ax=axes[2], shrink=0.8).set_label(over_label, fontsize=8)
    axes[2].set_title("over the input (same scale)", fontsize=9)
    if peak == 0:
        axes[1].text(0.5, 0.5, "map is 0 everywhere", ha="center", va="center", transform=axes[1].transAxes,
                     color="white", fontsize=9, bbox={"facecolor": "black", "alpha": 0.6})
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig
