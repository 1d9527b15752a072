"""Results as the JSON the commands print: the API returns exactly what `--json` shows."""

from __future__ import annotations

from pathlib import PurePath


def plain(obj):
    """Tuples -> lists, paths -> str, tensors/arrays -> lists, recursively; everything
    else is returned as is. `json.loads(json.dumps(plain(x))) == plain(x)` for the
    results cnnkit builds (a test checks it against the CLI)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "tolist"):  # torch tensors and numpy arrays/scalars
        return plain(obj.tolist())
    return obj
