"""Learning curves (loss and headline metric, train vs validation) from metrics rows."""

from __future__ import annotations

from pathlib import Path


def plot_curves(runs: dict[str, list[dict]], path: str | Path, metric: str = "accuracy") -> Path:
    """runs: {label: [row, ...]} with keys epoch, train_loss, val_loss, train_<metric>, val_<metric>.

    Two panels: loss and the metric; solid lines are validation, dashed training."""
    from cnnkit.viz.plots import agg_pyplot

    plt = agg_pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (label, rows) in enumerate(runs.items()):
        colour = f"C{i % 10}"
        epochs = [r["epoch"] for r in rows]
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
            for split, style in (("train", "--"), ("val", "-")):
                values = [r.get(f"{split}_{key}") for r in rows]
                if any(v is not None and v == v for v in values):
                    ax.plot(epochs, [float("nan") if v is None else v for v in values], style, color=colour,
                            marker="o" if len(epochs) < 30 else None, ms=3, label=f"{label} {split}" if len(runs) > 1 else split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_metric.set(xlabel="epoch", ylabel=metric, title=metric)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_metric):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    from cnnkit.viz.plots import save_figure

    return save_figure(fig, path)
