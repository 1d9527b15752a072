"""Plot functions that draw tensors computed elsewhere (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import torch


def agg_pyplot():
    """matplotlib.pyplot on the Agg backend: files only, never a window. Inside Jupyter the
    notebook's own (inline) backend stays: switching it would stop the student's later
    plt.show() from drawing anything, and cnnkit saves and closes its figures either way."""
    import matplotlib

    from cnnkit.notebook import kernel_shell

    if kernel_shell() is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, tight: bool = True, inputs=(), what: str = "figure") -> Path:
    """Write the figure as a PNG atomically (a viewer never sees half a file) and close it.

    Only where the write rule allows a figure (cnnkit.outputs): never over a file of the
    user's or over one of the command's `inputs`. The PNG carries the text chunk
    "Software: cnnkit <what>", by which a later figure knows it may replace it."""
    from cnnkit.outputs import FIGURE, check_output, write_output

    plt = agg_pyplot()
    try:
        check_output(path, FIGURE, inputs)  # before the layout work: a refusal costs nothing
        if tight and fig.get_layout_engine() is None:  # figures built with a layout engine keep theirs
            fig.tight_layout()
        return write_output(path, FIGURE, lambda f: fig.savefig(f, format="png", dpi=100,
                                                                metadata={"Software": f"cnnkit {what}"}),
                            binary=True, inputs=inputs)
    finally:
        plt.close(fig)


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


def plot_variant_scores(values: dict[str, list[float]], metric: str, path: str | Path) -> Path:
    """One row per variant: every trial as a dot, the mean as a bar with +/- 1 std
    (how much of a difference between variants is just the seed)."""
    import statistics

    plt = agg_pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(names)))
    for i, name in enumerate(names):
        v = values[name]
        mean = statistics.fmean(v)
        std = statistics.stdev(v) if len(v) > 1 else 0.0
        ax.errorbar([mean], [i], xerr=[std], fmt="|", color="C0", ms=18, capsize=4, lw=1.5)
        ax.plot(v, [i] * len(v), "o", color="C1", alpha=0.8, ms=5)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first variant (the baseline) on top
    ax.set(xlabel=metric, title=f"{metric} per trial (dots), mean +/- std (bars)")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)
