"""docs/tutorial.py (percent format, easy to review and diff) -> docs/tutorial.ipynb.

    python docs/make_tutorial.py      # after editing tutorial.py; a test checks the two agree
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cells(source: str) -> list[tuple[str, str]]:
    """[(kind, text)] from '# %%' / '# %% [markdown]' blocks; markdown lines lose their '# '."""
    out = []
    for block in re.split(r"^# %%", source, flags=re.M)[1:]:
        header, _, body = block.partition("\n")
        if "[markdown]" in header:
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.strip().splitlines())
            out.append(("markdown", text))
        else:
            out.append(("code", body.strip()))
    return out


def notebook(source: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells(source)):
        cell = nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
        cell["id"] = f"cell-{i}"  # stable ids: regenerating gives the same file
        nb.cells.append(cell)
    return nb


def main() -> int:
    import nbformat

    nbformat.write(notebook((HERE / "tutorial.py").read_text()), HERE / "tutorial.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
