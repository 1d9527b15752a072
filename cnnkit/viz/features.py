"""Feature maps of named layers for one input: compute (hooks) apart from drawing."""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnkit.viz.target_layer import check_layer


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """{layer: (C, H, W)} outputs of the named modules for the single input x (1, C, H, W).

    Each output is cloned inside the hook: a later in-place op (ReLU(inplace=True),
    as in torchvision's ResNet) must not change what was recorded."""
    modules = dict(model.named_modules())
    for name in layers:
        if name not in modules:
            check_layer(model, x, name)  # raises, listing every layer with a feature map
    out: dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_hook(lambda _m, _i, y, n=n: out.__setitem__(n, y.detach().clone()))
             for n in layers]
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    for name, y in out.items():
        if not isinstance(y, torch.Tensor) or y.ndim != 4:
            check_layer(model, x, name)
    return {n: out[n][0].float().cpu() for n in layers}


def top_channels(fmap: torch.Tensor, n: int) -> list[int]:
    """Indices of the n channels with the largest mean activation, strongest first."""
    return fmap.mean(dim=(1, 2)).argsort(descending=True)[:n].tolist()


def feature_maps_figure(maps: dict[str, torch.Tensor], top: int = 16, image=None, title: str = ""):
    """One block of panels per layer: the `top` strongest channels, each on its own
    colour scale (the numbers under each panel give its range)."""
    from matplotlib.figure import Figure

    cols = 8
    blocks = [(name, top_channels(fm, top)) for name, fm in maps.items()]
    rows = sum(-(-len(ch) // cols) for _, ch in blocks) + (1 if image is not None else 0)
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows + (0.5 if title else 0)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    r = 0
    if image is not None:
        img = image.float() / 255
        axes[0, 0].imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray" if img.shape[0] == 1 else None,
                         vmin=0, vmax=1)
        axes[0, 0].set_title("input", fontsize=7)
        r = 1
    for name, channels in blocks:
        fm = maps[name]
        for k, ch in enumerate(channels):
            ax = axes[r + k // cols, k % cols]
            a = fm[ch]
            ax.imshow(a.numpy(), cmap="viridis", interpolation="nearest")
            ax.set_title(f"{name}[{ch}]\n{float(a.min()):.2g}..{float(a.max()):.2g}", fontsize=6)
        r += -(-len(channels) // cols)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
