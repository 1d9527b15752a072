"""The run directory (../shared/CLI.md): config.json, metrics.csv, last.pt, best.pt,
curves.png, summary.json. Every file is replaced atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from cnnkit.errors import CnnkitError


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self, overwrite: bool = False) -> RunDir:
        if (self.path / "config.json").exists() and not overwrite:
            raise CnnkitError(f"{self.path} already holds a run; continue it with --resume {self.path}, "
                              "choose another --out, or pass --overwrite")
        if self.path.exists() and not self.path.is_dir():
            raise CnnkitError(f"--out {self.path} is a file; give a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: dict) -> Path:
        write_atomic(self.file(name), json.dumps(obj, indent=2, default=_jsonable) + "\n")
        return self.file(name)

    def read_json(self, name: str) -> dict:
        f = self.file(name)
        if not f.exists():
            raise CnnkitError(f"{self.path} is not a cnnkit run directory (no {name}); give the folder `cnnkit train --out` wrote")
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise CnnkitError(f"{f} is corrupt ({e.msg} at line {e.lineno}); restore it or start a new run") from None

    def write_metrics(self, rows: list[dict]) -> Path:
        """metrics.csv, one row per epoch; rewritten whole so a resume never duplicates rows."""
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys and not isinstance(r[k], (list, dict))]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in keys})
        write_atomic(self.file("metrics.csv"), buf.getvalue())
        return self.file("metrics.csv")


def read_metrics(path: Path) -> list[dict]:
    """metrics.csv back into rows of numbers."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({k: _num(v) for k, v in r.items()})
    return rows


def _num(v: str):
    if v in ("", None):
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def _jsonable(o):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)
