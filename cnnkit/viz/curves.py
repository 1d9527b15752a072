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
        if ax.get_lines():  # a legend of nothing is a matplotlib warning, not a figure
            ax.legend(fontsize=8)
        else:  # every value NaN or empty (a diverged run): say so in the panel
            ax.set_yticks([])
            ax.text(0.5, 0.5, "no finite values recorded\n(did the loss become NaN?)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=10, color="0.35")
    fig.tight_layout()
    return fig


def variant_curves_figure(variants: dict[str, list[list[dict]]], metric: str = "accuracy"):
    """variants: {name: [rows of trial 1, rows of trial 2, ...]}: per variant and epoch the
    mean over its trials (validation solid, training dashed) and a band from the lowest to
    the highest trial (validation, or training where there is none), the figure a sweep's
    report shows. An epoch reached by fewer trials (early stopping) averages those."""
    import math

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4.4))
    ax_loss, ax_metric = fig.subplots(1, 2)
    last = 1
    for i, (name, trials) in enumerate(variants.items()):
        colour = f"C{i % 10}"
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
            has_val = any(r.get(f"val_{key}") is not None for rows in trials for r in rows)
            for split, style in (("train", "--"), ("val", "-")):
                by_epoch: dict[int, list[float]] = {}
                for rows in trials:
                    for r in rows:
                        v = r.get(f"{split}_{key}")
                        if v is not None and not (isinstance(v, float) and math.isnan(v)):
                            by_epoch.setdefault(int(r["epoch"]), []).append(float(v))
                if not by_epoch:
                    continue
                epochs = sorted(by_epoch)
                last = max(last, epochs[-1])
                mean = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
                ax.plot(epochs, mean, style, color=colour, marker="o" if split == "val" and len(epochs) < 30 else None, ms=4,
                        label=f"{name} {split} (n={len(trials)})" if split == "val" or not has_val else f"{name} {split}")
                if split == ("val" if has_val else "train") and len(trials) > 1:
                    ax.fill_between(epochs, [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs],
                                    color=colour, alpha=0.18, linewidth=0)
    trials = sorted({len(t) for t in variants.values()})
    n = "/".join(map(str, trials))
    for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
        ax.set(xlabel="epoch", ylabel=key, title=f"{key}: mean of {n} trial(s), band lowest to highest")
        if last <= 12:
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, last + 0.5)
        ax.margins(y=0.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.text(0.5, 0.005, "solid: validation, dashed: training; the band spans the trials (validation where there is one)",
             ha="center", va="bottom", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_curves(runs: dict[str, list[dict]], path: str | Path, metric: str = "accuracy") -> Path:
    from cnnkit.viz.save import save_figure

    return save_figure(curves_figure(runs, metric), path)
