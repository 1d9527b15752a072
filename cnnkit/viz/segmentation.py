"""Image / true mask / predicted mask / overlay, in the shared palette (viz/palette.py):
a colour of its own for every class, grey for ignored pixels, the same colours as
the masks `predict` writes and the report's examples."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from cnnkit.viz.palette import IGNORED_KEY, Palette, palette


def segmentation_figure(image: torch.Tensor, pred: torch.Tensor, class_names: list[str], truth: Optional[torch.Tensor] = None,
                        scores: Optional[dict] = None, ignore_index: Optional[int] = None, title: str = "",
                        colours: Optional[Palette] = None):
    """image (C, H, W) uint8, pred / truth (H, W) class indices (truth may hold ignore_index)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    pal = colours or palette(max(len(class_names), int(pred.max()) + 1), ignore_index)
    img = image.float() / 255
    rgb = img.expand(3, -1, -1).permute(1, 2, 0) if img.shape[0] == 1 else img.permute(1, 2, 0)  # (H, W, 3)
    pred_rgb = torch.from_numpy(pal.colourise(pred))
    panels = [("image (as the model sees it)", rgb.numpy())]
    if truth is not None:
        panels.append(("true mask", pal.colourise(truth)))
    panels.append(("predicted mask", pred_rgb.numpy()))
    overlay = (0.55 * rgb + 0.45 * pred_rgb.float() / 255).clamp(0, 1)
    panels.append(("overlay (prediction)", overlay.numpy()))
    fig = Figure(figsize=(3.2 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels))
    for ax, (name, data) in zip(axes, panels):
        ax.imshow(data, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    present = set(pred.unique().tolist()) | (set(truth.unique().tolist()) if truth is not None else set())
    hexes = pal.hex(class_names)
    names = list(hexes)
    handles = [Patch(color=hexes[names[c]], label=names[c]) for c in sorted(present) if 0 <= c < pal.num_classes]
    if ignore_index is not None and ignore_index in present:
        handles.append(Patch(color=hexes[IGNORED_KEY], label=f"{IGNORED_KEY} ({ignore_index})"))
    for h in handles:
        h.set_edgecolor("#555555")
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    head = "  ".join(f"{k} {v:.3f}" for k, v in (scores or {}).items() if isinstance(v, float))
    if "Dice" in (scores or {}):  # evaluate's per-image numbers: macro averages, not the foreground class alone
        head += "  (Dice, IoU: mean over the classes present)"
    fig.suptitle("\n".join(t for t in (title, head) if t), fontsize=10)
    rows = -(-len(handles) // 8)
    fig.tight_layout(rect=(0, 0.05 + 0.05 * rows, 1, 0.93 if title and head else 0.95))  # room for the legend below
    return fig


def plot_segmentation(image: torch.Tensor, pred: torch.Tensor, path: str | Path, class_names: list[str],
                      truth: Optional[torch.Tensor] = None, scores: Optional[dict] = None, ignore_index: Optional[int] = None,
                      title: str = "") -> Path:
    from cnnkit.viz.save import save_figure

    return save_figure(segmentation_figure(image, pred, class_names, truth, scores, ignore_index, title), path, tight=False)
