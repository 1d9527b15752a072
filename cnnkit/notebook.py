"""Jupyter integration: matplotlib Figures returned by cnnkit show inline.

cnnkit draws on matplotlib's Agg backend without pyplot (figures are plain `Figure`
objects, so nothing piles up in pyplot's list), and a kernel that never ran
`%matplotlib inline` has no display for such an object: it would print
`<Figure size 1000x400>`. `register_figure_display()` adds a PNG display for Figure to
the running kernel, by type name, so it imports nothing; `import cnnkit` calls it, and
outside a kernel it does nothing.
"""

from __future__ import annotations

import sys


def kernel_shell():
    """The IPython shell of a running Jupyter kernel, or None (also in a plain IPython terminal)."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it already; never import it here
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None  # ipykernel: Jupyter, VS Code, Colab


def register_figure_display() -> None:
    shell = kernel_shell()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", figure_png)


def figure_png(fig) -> bytes:
    """The figure as PNG bytes, as `savefig` writes it (what the commands save)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()
