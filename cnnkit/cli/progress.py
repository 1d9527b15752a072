"""The training progress displays live in the library (cnnkit/progress.py) so the Python
API shows the same; the CLI picks one with make_progress."""

from cnnkit.progress import NotebookProgress, PlainProgress, RichProgress, make_progress

__all__ = ["PlainProgress", "RichProgress", "NotebookProgress", "make_progress"]
