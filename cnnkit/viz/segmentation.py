"""Image / true mask / predicted mask / overlay, with one palette for truth and prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

# A fixed palette: class 0 black, then distinct colours (cycled beyond 10 classes).
PALETTE = torch.tensor([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60]], dtype=torch.uint8)


def colourise(mask: torch.Tensor) -> torch.Tensor:
    """(H, W) class indices -> (H, W, 3) uint8 colours."""
    return PALETTE[mask.long() % len(PALETTE)]


def plot_segmentation(image: torch.Tensor, pred: torch.Tensor, path: str | Path, class_names: list[str],
                      truth: Optional[torch.Tensor] = None, scores: Optional[dict] = None) -> Path:
    """image (C, H, W) uint8, pred / truth (H, W) class indices."""
    from cnnkit.viz.plots import agg_pyplot

    plt = agg_pyplot()
    from matplotlib.patches import Patch

    img = image.float() / 255
    rgb = img.expand(3, -1, -1).permute(1, 2, 0) if img.shape[0] == 1 else img.permute(1, 2, 0)
    panels = [("image", rgb.numpy())]
    if truth is not None:
        panels.append(("true mask", colourise(truth).numpy()))
    panels.append(("predicted mask", colourise(pred).numpy()))
    overlay = (0.55 * rgb + 0.45 * colourise(pred).float() / 255).clamp(0, 1)
    panels.append(("overlay (prediction)", overlay.numpy()))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, data) in zip(axes, panels):
        ax.imshow(data, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    present = sorted(set(pred.unique().tolist()) | (set(truth.unique().tolist()) if truth is not None else set()))
    handles = [Patch(color=(PALETTE[c % len(PALETTE)].float() / 255).tolist(), label=class_names[c] if c < len(class_names) else str(c))
               for c in present if c < 256]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8)
    if scores:
        fig.suptitle("  ".join(f"{k} {v:.3f}" for k, v in scores.items()), fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))  # room for the legend below
    from cnnkit.viz.plots import save_figure

    return save_figure(fig, path, tight=False)
