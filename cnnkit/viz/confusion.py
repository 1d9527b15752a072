"""The confusion matrix figure of `cnnkit evaluate` and the report: counts cm[true, predicted]."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.viz.save import save_figure


def confusion_figure(cm: torch.Tensor, class_names: list[str]):
    """The (K, K) counts cm[true, predicted] as a figure that says what it shows: colour =
    the fraction of each true class (rows sum to 1, so a rare class is as visible as a
    common one) with its colour bar; the number in a cell = images counted there."""
    from matplotlib.figure import Figure

    k = len(class_names)
    rates = (cm.double() / cm.sum(1, keepdim=True).clamp_min(1)).numpy()  # (K, K), rows sum to 1
    size = min(2.5 + 0.5 * k, 20)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8).set_label("fraction of the true class (each row sums to 1)")
    if k <= 30:
        ax.set_xticks(range(k), class_names, rotation=90)
        ax.set_yticks(range(k), class_names)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    counts = "numbers: images counted" if k <= 30 else f"{k} classes: too many to number the cells"
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"confusion matrix of {int(cm.sum())} images\ncolour: row-normalised (recall on the diagonal); {counts}")
    return fig


def plot_confusion(cm: torch.Tensor, class_names: list[str], path: str | Path, inputs=()) -> Path:
    """confusion_figure, written to path (never over one of the command's `inputs`: cnnkit.outputs)."""
    return save_figure(confusion_figure(cm, class_names), path, inputs=inputs, what="evaluate")
