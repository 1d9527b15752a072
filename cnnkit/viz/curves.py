"""Learning curves (loss and headline metric, train vs validation) from metrics rows."""

from __future__ import annotations

import re
from pathlib import Path


def run_labels(paths: list[str | Path]) -> list[str]:
    """A short, distinct label per run directory: its name, with as many parent folders
    as it takes to tell runs apart, and always the parent of a trial folder
    (sweep/lr=0.1/trial-1 -> "lr=0.1/trial-1": "trial-1" alone hides the variant)."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = [2 if re.fullmatch(r"trial-\d+", ps[-1]) and len(ps) > 1 else 1 for ps in parts]
    while True:
        labels = ["/".join(ps[-d:]) for ps, d in zip(parts, depth)]
        clash = {lab for lab in labels if labels.count(lab) > 1}
        if not clash:
            return labels
        grown = False
        for i, lab in enumerate(labels):
            if lab in clash and depth[i] < len(parts[i]):
                depth[i] += 1
                grown = True
        if not grown:  # the same directory given twice
            return [f"{lab} ({i + 1})" if lab in clash else lab for i, lab in enumerate(labels)]


def curves_figure(runs: dict[str, list[dict]], metric: str = "accuracy"):
    """runs: {label: [row, ...]} with keys epoch, train_loss, val_loss, train_<metric>, val_<metric>.

    Two panels: loss and the metric; solid lines are validation, dashed training. Every
    epoch is a marker while there are few, and the x axis spans whole epochs (a single
    epoch is a point in the middle, not on a 0.95-1.05 axis)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4))
    ax_loss, ax_metric = fig.subplots(1, 2)
    last = 1
    for i, (label, rows) in enumerate(runs.items()):
        colour = f"C{i % 10}"
        epochs = [r["epoch"] for r in rows]
        last = max([last, *epochs])
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
            for split, style in (("train", "--"), ("val", "-")):
                values = [r.get(f"{split}_{key}") for r in rows]
                if any(v is not None and v == v for v in values):
                    ax.plot(epochs, [float("nan") if v is None else v for v in values], style, color=colour,
                            marker=("o" if split == "val" else "s") if len(epochs) < 30 else None, ms=5 if len(epochs) < 5 else 3,
                            label=f"{label} {split}" if len(runs) > 1 else split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_metric.set(xlabel="epoch", ylabel=metric, title=metric)
    for ax in (ax_loss, ax_metric):
        if last <= 12:  # a tick per epoch (MaxNLocator falls back to 0.1 steps when it finds one integer)
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlim(0.5, last + 0.5)
        ax.margins(y=0.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(runs: dict[str, list[dict]], path: str | Path, metric: str = "accuracy") -> Path:
    from cnnkit.viz.plots import save_figure

    return save_figure(curves_figure(runs, metric), path)
