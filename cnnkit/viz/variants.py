"""The score of every trial per variant of a sweep (the report's spread figure)."""

from __future__ import annotations

from pathlib import Path

from cnnkit.viz.save import agg_pyplot, save_figure


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
