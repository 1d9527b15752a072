"""Convolution filters: compute (a tensor of weights) apart from drawing."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError


def conv_weights(model: nn.Module, layer: str) -> torch.Tensor:
    """The (O, C, kh, kw) weight of the named conv layer, detached on the CPU."""
    modules = dict(model.named_modules())
    if layer not in modules:
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
        raise CnnkitError(f"no layer {layer!r} in this model; conv layers: {', '.join(convs)}")
    module = modules[layer]
    if not isinstance(module, nn.Conv2d):
        raise CnnkitError(f"{layer} is a {type(module).__name__}, not a Conv2d; give a conv layer")
    return module.weight.detach().float().cpu()


def weight_of(state_dict: dict, layer: Optional[str], default: Optional[str] = None, source: str = "this checkpoint"):
    """(layer name, (O, C, kh, kw) float weight) of a conv layer, from the weights alone: every
    4-D '<layer>.weight' is one. `layer` picks it; otherwise `default` (the registry's first
    conv) when present, else the first in the file. A wrong name lists them all."""
    convs = [k[: -len(".weight")] for k, v in state_dict.items() if k.endswith(".weight") and v.ndim == 4]
    if not convs:
        raise CnnkitError(f"{source} holds no conv weights (no 4-D '<layer>.weight' tensor); filters are drawn from a conv layer")
    name = layer or (default if default in convs else convs[0])
    if name not in convs:
        shown = ", ".join(convs[:40]) + (f" ... ({len(convs)} in all)" if len(convs) > 40 else "")
        if f"{name}.weight" in state_dict:
            raise CnnkitError(f"{name} in {source} is not a conv layer (its weight is "
                              f"{'x'.join(map(str, state_dict[name + '.weight'].shape))}); conv layers: {shown}")
        raise CnnkitError(f"no conv layer {name!r} in {source}; conv layers: {shown}")
    return name, state_dict[f"{name}.weight"].detach().float().cpu()


def dead_filters(weights: torch.Tensor, rel: float = 1e-3) -> torch.Tensor:
    """(O,) bool: filters whose largest |weight| is under rel x the layer's largest."""
    peak = weights.abs().amax(dim=(1, 2, 3))
    return peak < rel * peak.max().clamp_min(1e-12)


def filters_figure(weights: torch.Tensor, title: str = "", per_filter: bool = False, dead: Optional[torch.Tensor] = None):
    """A grid of filters. RGB when C == 3 (each filter shown in colour), a grid of
    single panels when C == 1, else one row per filter and one panel per input
    channel (at most 8 channels). One symmetric
    scale around zero for the whole layer (so signs and relative strength are
    visible, with a colorbar) unless per_filter; dead filters are crossed out, not
    stretched into noise."""
    from matplotlib.figure import Figure

    o, c = weights.shape[:2]
    dead = dead_filters(weights) if dead is None else dead
    limit = float(weights.abs().max().clamp_min(1e-12))
    if c == 3:
        cols = min(o, 8)
        rows = -(-o // cols)
        fig = Figure(figsize=(max(1.4 * cols, 6.0), 1.4 * rows + 0.7), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i >= o:
                continue
            w = weights[i]
            scale = float(w.abs().max().clamp_min(1e-12)) if per_filter else limit
            ax.imshow((w / scale * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(f"{i}" + (" dead" if dead[i] else ""), fontsize=7)
            if dead[i]:
                ax.plot([0, 1], [0, 1], "r-", transform=ax.transAxes)
        fig.suptitle(title + f"  (RGB, 0.5 grey = 0, scale +/-{limit:.3g}" + (", per filter)" if per_filter else ")"), fontsize=9)
    elif c == 1:
        # one input channel (grey images): a grid of filters, 8 across, like the RGB case; one
        # column of O rows was ~210 px wide (title and colorbar cut) and 3,600 px tall for 32
        cols = min(o, 8)
        rows = -(-o // cols)
        fig = Figure(figsize=(max(1.2 * cols + 1.4, 4.5), 1.2 * rows + 0.9), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        image = None
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= o:
                ax.axis("off")
                continue
            scale = float(weights[i].abs().max().clamp_min(1e-12)) if per_filter else limit
            image = ax.imshow(weights[i, 0].numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
            ax.set_title(f"{i}" + (" dead" if dead[i] else ""), fontsize=7)
            if dead[i]:
                ax.plot([0, 1], [0, 1], "k-", transform=ax.transAxes)
        if not per_filter and image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
        fig.suptitle(title + f"\n({o} filters, 1 input channel" + (", each on its own scale)" if per_filter else ")"), fontsize=9)
    else:
        # a deep layer (128 x 64 kernels) cannot be drawn whole at a readable size: an even
        # sample of at most 16 filters (rows) x 8 input channels (columns), said in the title
        filt, chans = sample(o, MAX_FILTER_ROWS), sample(c, MAX_INPUT_COLUMNS)
        rows, shown = len(filt), len(chans)
        # at least 3.8 inches wide: one input channel alone gave ~2 inches (210 px), too narrow
        # for the title and the colorbar
        fig = Figure(figsize=(max(1.1 * shown + 1.6, 3.8), 1.1 * rows + 1.1), layout="constrained")
        axes = fig.subplots(rows, shown, squeeze=False)
        image = None
        for r, i in enumerate(filt):
            for col, j in enumerate(chans):
                ax = axes[r, col]
                ax.set_xticks([])
                ax.set_yticks([])
                w = weights[i, j]
                scale = float(weights[i].abs().max().clamp_min(1e-12)) if per_filter else limit
                image = ax.imshow(w.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
                if col == 0:
                    ax.set_ylabel(f"{i}" + (" dead" if dead[i] else ""), fontsize=7)
                if r == 0:
                    ax.set_title(f"in {j}", fontsize=7)
        if not per_filter and image is not None:
            fig.colorbar(image, ax=axes, shrink=0.6, label="weight")
        fig.suptitle(title + f"\nrows: {sample_words(filt, o, 'filters')}\ncolumns: {sample_words(chans, c, 'input channels')}",
                     fontsize=9)
    return fig


MAX_FILTER_ROWS, MAX_INPUT_COLUMNS = 16, 8  # 16 rows x 1.1 in: a figure about 1,900 px tall at most


def sample(n: int, most: int) -> list[int]:
    """Indices 0..n-1, or `most` of them spread evenly from the first to the last."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def sample_words(shown: list[int], n: int, what: str) -> str:
    """'all 6 filters' or 'filters 0, 9, 17, ... 127: 16 of 128, spread evenly'."""
    if len(shown) == n:
        return f"all {n} {what}"
    head = ", ".join(map(str, shown[:3]))
    return f"{what} {head}, ... {shown[-1]}: {len(shown)} of {n}, spread evenly"


def plot_filters(weights: torch.Tensor, path: str | Path, title: str = "", per_filter: bool = False,
                 dead: Optional[torch.Tensor] = None) -> Path:
    from cnnkit.viz.save import save_figure

    fig = filters_figure(weights, title, per_filter, dead)
    return save_figure(fig, path)
