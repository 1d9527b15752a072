"""The decoded-tensor cache in the data root.

A folder dataset is decoded once and stored as uint8 tensors under
`<data root>/cache/`. The key hashes every file's path and *content* plus the
loading options, so replacing an image with same-size content and the old
modification time (`cp -p`, `rsync -a`) rebuilds it, while touching a file does not.

Hashing 60,000 files on every start would cost seconds, so each file's hash is
remembered next to the cache with the file's stat signature (inode, size, mtime and
ctime, as git's index does). A file whose signature is unchanged is not read again;
ctime changes on every write or replacement and cannot be set back by copying
tools, so a same-size, same-mtime replacement is still hashed anew.

Each cache file carries a checksum of what it holds and is verified on load: a file
damaged in place is rebuilt, never used. Files are written atomically and read with
weights_only=True.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from cnnkit.atomic import write_atomic_with

CACHE_VERSION = 2


def data_root(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $CNNKIT_DATA, else ~/.cache/cnnkit/data (../shared/CLI.md)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnkit" / "data"


def fingerprint(files: list[Path], *options, memo: Path | None = None) -> str:
    """Hash of every file's path and content and the loading options.

    With `memo` (a JSON file), file contents are read only when needed: if no file's stat
    signature changed since the last call, the remembered key is returned (one stat per
    file, as cheap as a key of sizes and mtimes); otherwise only changed files are hashed."""
    signatures = []
    stat_hash = hashlib.sha1(f"v{CACHE_VERSION}|{options!r}".encode(), usedforsecurity=False)
    for f in files:
        st = os.stat(f)
        sig = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        signatures.append(sig)
        stat_hash.update(f"{f}|{sig}\n".encode())
    stat_key = stat_hash.hexdigest()
    summary = _read_memo(memo.with_suffix(".key.json")) if memo else {}
    if summary.get("stat_key") == stat_key and isinstance(summary.get("key"), str):
        return summary["key"]
    known = _read_memo(memo) if memo else {}
    seen: dict[str, list] = {}
    h = hashlib.sha1(f"v{CACHE_VERSION}|{options!r}".encode(), usedforsecurity=False)
    for f, sig in zip(files, signatures):
        entry = known.get(str(f))
        digest = entry[4] if isinstance(entry, list) and len(entry) == 5 and entry[:4] == sig else _file_digest(f)
        seen[str(f)] = [*sig, digest]
        h.update(f"{f}|{digest}\n".encode())
    key = h.hexdigest()[:16]
    if memo:
        _write_memo(memo, seen)
        _write_memo(memo.with_suffix(".key.json"), {"stat_key": stat_key, "key": key})
    return key


def _file_digest(f: Path) -> str:
    if f.is_dir():  # a named dataset's extracted folder: its listing's identity only
        return f"dir{f.stat().st_mtime_ns}"
    h = hashlib.sha1(usedforsecurity=False)
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_memo(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # missing or damaged: every file is hashed again


def _write_memo(path: Path, entries: dict) -> None:
    """Atomically; the per-file memo is always written before the summary key that relies on it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_with(path, lambda fh: json.dump(entries, fh, separators=(",", ":")))
    except OSError:
        pass  # a read-only data root: hash again next time


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
        write_atomic_with(path, lambda f: torch.save({"value": value, "checksum": checksum(value)}, f), binary=True)
    except OSError:
        pass
    return value, False
