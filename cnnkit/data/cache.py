"""The decoded-tensor cache in the data root.

A folder dataset is decoded once and stored as uint8 tensors under
`<data root>/cache/`; the key hashes every file's path, size and modification
time plus the loading options, so editing, adding or removing a file rebuilds it.
Files are written atomically and read with weights_only=True.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

CACHE_VERSION = 1


def data_root(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $CNNKIT_DATA, else ~/.cache/cnnkit/data (../shared/CLI.md)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnkit" / "data"


def fingerprint(files: list[Path], *options) -> str:
    """Hash of file identities (path, size, mtime) and loading options."""
    h = hashlib.sha1(f"v{CACHE_VERSION}|{options!r}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def cached(root: Path, label: str, key: str, build: Callable[[], dict]) -> tuple[dict, bool]:
    """Load `<root>/cache/<label>-<key>.pt` or build and store it. Returns (dict, hit).

    A cache that cannot be written (read-only data root) is skipped, not fatal; a
    corrupt cache file is rebuilt."""
    path = root / "cache" / f"{label}-{key}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True), True
        except Exception:
            path.unlink(missing_ok=True)
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(value, f)
        os.replace(tmp, path)
    except OSError:
        pass
    return value, False
