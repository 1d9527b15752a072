"""Figures to files: matplotlib on the Agg backend, and the one atomic PNG writer every
figure goes through (the write rule of cnnkit.outputs)."""

from __future__ import annotations

from pathlib import Path


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
