"""The one Rich console every table goes through.

On a terminal Rich fits a table to the window. Written to a file or a pipe there is no
window, and Rich falls back to 80 columns (or $COLUMNS), cutting wide cells to "100…":
a saved table that silently lost digits. So off a terminal the width is wide enough
for any table (a table takes only the columns it needs; nothing is padded to it).
--json / --csv remain the machine formats.
"""

from __future__ import annotations

PIPE_WIDTH = 10_000  # characters: wider than any table cnnkit prints, so nothing is cut


def stdout_console(**kwargs):
    """A rich Console on stdout: the terminal's width on a terminal, PIPE_WIDTH elsewhere."""
    from rich.console import Console

    c = Console(**kwargs)
    if not c.is_terminal and "width" not in kwargs:
        c = Console(width=PIPE_WIDTH, **kwargs)
    return c
