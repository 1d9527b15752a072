"""The run directory (../shared/CLI.md): config.json, metrics.csv, last.pt, best.pt,
curves.png, summary.json. Every file is replaced atomically.

One process owns a run directory while it writes (engine/runlock.py). What may be
written where, and what `--overwrite` clears, is cnnkit.outputs (the write rule): every
file here is recorded in the folder's manifest, and --overwrite removes only those.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from cnnkit import outputs as O
from cnnkit.engine.runlock import LOCK_NAME, RunLock
from cnnkit.errors import CnnkitError

# The files a run writes in its folder, and their kinds (a file of the user's under one of
# these names makes the folder unusable for a run: it is never replaced).
RUN_FILES = {"config.json": O.RECORD, "metrics.csv": O.RECORD, "summary.json": O.RECORD, "last.pt": O.CHECKPOINT,
             "best.pt": O.CHECKPOINT, "curves.png": O.FIGURE, "trials.json": O.RECORD,
             "model-source.py": O.SOURCE}  # the copy of the model file a run was trained on (models/source.py)


def write_atomic(path: Path, text: str, kind: str = O.RECORD, inputs=()) -> None:
    """Readers see the old or the new file, never half (cnnkit.atomic); only where the write
    rule allows a file of `kind` (cnnkit.outputs), recorded in the folder's manifest."""
    O.write_output(path, kind, lambda f: f.write(text), inputs=inputs)


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = RunLock(self.path)
        self.created = False  # this process made the folder (so a failed start may remove it)

    def acquire(self) -> RunDir:
        """Make the folder if needed and take its lock (RunBusy when another process has it)."""
        if self.path.exists() and not self.path.is_dir():
            raise CnnkitError(f"--out {self.path} is a file; give a folder")
        self.created = not self.path.exists()
        self.lock.acquire()
        return self

    def release(self) -> None:
        self.lock.release()

    def create(self, overwrite: bool = False, nested: bool = False) -> RunDir:
        """Take the folder for a new run: locked, and empty of an earlier run (cleared with
        overwrite). Refused in a sweep folder, inside another run or sweep (unless `nested`:
        a trial or variant cnnkit places itself), and where a file of the user's has a name
        the run writes."""
        O.check_new_folder(self.path, "run", nested)
        self.acquire()
        try:
            if O.folder_role(self.path) == "run" and not overwrite:
                raise CnnkitError(f"{self.path} already holds a run; continue it with --resume {self.path}, "
                                  "choose another --out, or pass --overwrite to delete that run's files")
            O.check_collisions(self.path, RUN_FILES)  # before anything is cleared: a refusal loses nothing
        except BaseException:
            self.release()
            raise
        if overwrite:
            O.clear_written(self.path)
        return self

    def abandon(self) -> None:
        """A new run that failed before finishing its first epoch: remove what it wrote, so
        nothing blocks a retry with the same --out (and the folder itself if this run made it)."""
        clear_owned(self.path)
        (self.path / LOCK_NAME).unlink(missing_ok=True)  # we are done writing: no one is left to exclude
        self.release()
        if self.created:
            try:
                self.path.rmdir()  # only when empty: a user's file keeps the folder
            except OSError:
                pass

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: dict) -> Path:
        from cnnkit.jsontext import dumps

        write_atomic(self.file(name), dumps(obj, default=_jsonable, indent=2) + "\n")  # NaN -> null: strict JSON
        return self.file(name)

    def write_text(self, name: str, text: str, kind: str = O.RECORD) -> Path:
        """Any other file of the run (e.g. the model file's copy, models/source.py: kind
        O.SOURCE), written by the write rule and listed in the folder's manifest, so
        --overwrite clears it. A file written by other means: outputs.record_written."""
        write_atomic(self.file(name), text, kind)
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


def clear_owned(directory: Path) -> list[Path]:
    """What --overwrite removes: only the files cnnkit recorded writing (cnnkit.outputs.clear_written)."""
    return O.clear_written(directory)


def differences(recorded: dict, wanted: dict, keys=None) -> list[str]:
    """['lr 0.05 -> 0.1', ...] for the keys whose values differ (numbers compared as numbers,
    tuples as lists, so a value read back from JSON equals the one given)."""
    out = []
    for k in keys if keys is not None else sorted(set(recorded) | set(wanted)):
        a, b = _plain(recorded.get(k)), _plain(wanted.get(k))
        if a != b and not (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12)):
            out.append(f"{k.replace('_', '-')} {_show(recorded.get(k))} -> {_show(wanted.get(k))}")
    return out


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in sorted(v.items())}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return str(v)


def _show(v) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_show(x)}" for k, x in v.items()) + "}" if v else "{}"
    if isinstance(v, (list, tuple)):
        return "x".join(map(str, v))
    return str(v)


def read_metrics(path: Path) -> list[dict]:
    """metrics.csv back into rows of numbers (None for an empty cell, nan kept as nan).

    cnnkit writes one header with `epoch` and then one full row of numbers per epoch;
    anything else (a cell too many or too few, a word where a number belongs, not text)
    is a damaged file, refused naming the file and line rather than drawn or reported."""
    from cnnkit.errors import CnnkitError

    def damaged(what: str) -> CnnkitError:
        return CnnkitError(f"{path} is damaged ({what}); restore it from a copy or re-run the run "
                           "(cnnkit rewrites it whole every epoch)")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise damaged("not text") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []  # written before the first epoch finished
    if "epoch" not in header or len(set(header)) != len(header):
        raise damaged(f"its header {','.join(header)[:60]!r} is not the one cnnkit writes (epoch, ...)")
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise damaged(f"line {line} has {len(cells)} values for {len(header)} columns")
        row = {k: _num(v) for k, v in zip(header, cells)}
        words = [k for k, v in row.items() if isinstance(v, str)]
        if words or not isinstance(row["epoch"], int):
            bad = words[0] if words else "epoch"
            raise damaged(f"line {line}: {bad} is {str(row[bad])[:20]!r}, not a number")
        rows.append(row)
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
