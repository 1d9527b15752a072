"""The decoded-tensor cache in the data root.

A folder dataset is decoded once and stored as uint8 tensors under
`<data root>/cache/`. The key hashes every file's path and *content* plus the
loading options, so replacing an image with same-size content and the old
modification time (`cp -p`, `rsync -a`) still rebuilds it, while touching a file
does not. Files over FULL_HASH_BYTES (dataset archives) are keyed by size, mtime
and a sample of their bytes, to keep a warm start fast. Each cache file carries a
checksum of what it holds and is verified on load: a file damaged in place is
rebuilt, never used. Files are written atomically and read with weights_only=True.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

CACHE_VERSION = 2
FULL_HASH_BYTES = 1 << 20  # image files are hashed whole; bigger files (archives) by samples
SAMPLE_BLOCKS, SAMPLE_BYTES = 16, 1 << 16


def data_root(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $CNNKIT_DATA, else ~/.cache/cnnkit/data (../shared/CLI.md)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnkit" / "data"


def fingerprint(files: list[Path], *options) -> str:
    """Hash of every file's path and content (see the module docstring) and the loading options."""
    h = hashlib.sha1(f"v{CACHE_VERSION}|{options!r}".encode(), usedforsecurity=False)
    for f in files:
        h.update(f"{f}\n".encode())
        if f.is_dir():  # a named dataset's extracted folder: its listing's identity only
            h.update(f"dir|{f.stat().st_mtime_ns}".encode())
            continue
        with open(f, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= FULL_HASH_BYTES:
                h.update(fh.read())
            else:
                h.update(f"{size}|{os.fstat(fh.fileno()).st_mtime_ns}".encode())
                for i in range(SAMPLE_BLOCKS):
                    fh.seek((size - SAMPLE_BYTES) * i // (SAMPLE_BLOCKS - 1))
                    h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest()[:16]


def checksum(value) -> str:
    """A hash of everything a cache entry holds: tensors by dtype, shape and bytes, other
    values by repr, dict keys in order. ~0.1 s for CIFAR-10's 184 MB of pixels."""
    h = hashlib.sha1(usedforsecurity=False)

    def walk(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
        elif isinstance(v, dict):
            h.update(b"{")
            for k in sorted(v, key=str):
                h.update(repr(k).encode())
                walk(v[k])
            h.update(b"}")
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                walk(x)
            h.update(b"]")
        else:
            h.update(repr(v).encode())

    walk(value)
    return h.hexdigest()


def cached(root: Path, label: str, key: str, build: Callable[[], dict]) -> tuple[dict, bool]:
    """Load `<root>/cache/<label>-<key>.pt` or build and store it. Returns (dict, hit).

    A cache that cannot be written (read-only data root) is skipped, not fatal; a
    corrupt cache file (unreadable, or its checksum does not match) is rebuilt."""
    path = root / "cache" / f"{label}-{key}.pt"
    if path.exists():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entry = torch.load(path, weights_only=True)
            if isinstance(entry, dict) and entry.get("checksum") == checksum(entry.get("value")):
                return entry["value"], True
        except Exception:
            pass
        path.unlink(missing_ok=True)
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"value": value, "checksum": checksum(value)}, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
    return value, False
