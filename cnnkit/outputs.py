"""The write rule: where cnnkit may write a file and what `--overwrite` may delete
(docs/files.md). Every command that writes goes through this module.

1. A file is written only where nothing exists, or over a file cnnkit itself wrote of the
   same kind (a figure over a figure, a report over a report, a run's record over the same
   record). A file of the user's is never replaced or deleted, with or without --overwrite.
2. Never over an input of the same command (the same resolved path, or the same file
   under another name: a hard link).
3. cnnkit tells its own files by, in order: the folder's manifest (MANIFEST: one JSON line
   per file written there), a mark inside the file (PNG text chunk / GIF comment "Software:
   cnnkit ...", an HTML or SVG comment), or, in a folder cnnkit wrote before manifests
   existed, the exact names it uses there (LEGACY_NAMES).
4. `--overwrite` clears a folder only of what its manifest lists (older folders: the exact
   names), recursing into the trial / variant / predictions folders it lists.
5. A run folder and a sweep folder each refuse to become the other, a new run or sweep is
   not made inside another one, and no output goes inside a dataset folder the command reads.

Stdlib only: the arithmetic side may import it.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Optional

from cnnkit.atomic import write_atomic_with
from cnnkit.errors import CnnkitError

MANIFEST = ".cnnkit-files"  # JSON lines {"name": ..., "kind": ...}; appended, so two writers never lose a line
LOCK = ".cnnkit.lock"  # engine/runlock.py's lock file (kept when a folder is cleared)
MARK = "cnnkit"  # the PNG/GIF "Software" text and the HTML/SVG comment start with it

# The kinds of file cnnkit writes (a file is replaced only by one of the same kind).
FIGURE, REPORT, CHECKPOINT, RECORD, TABLE, MASK, LOG, FOLDER, SOURCE = (
    "figure", "report", "checkpoint", "record", "table", "mask", "log", "folder", "source")
WORDS = {FIGURE: "a figure", REPORT: "a report", CHECKPOINT: "a checkpoint", RECORD: "a run record",
         TABLE: "a table", MASK: "a predicted mask", LOG: "a log folder", FOLDER: "a run folder",
         SOURCE: "a copy of the model's source"}
MARKED = {FIGURE, REPORT, MASK}  # kinds that carry their own mark, so need no manifest outside a cnnkit folder

# What a folder written before manifests existed holds under cnnkit's own names.
LEGACY_NAMES = {"config.json": RECORD, "metrics.csv": RECORD, "summary.json": RECORD, "trials.json": RECORD,
                "sweep.json": RECORD, "last.pt": CHECKPOINT, "best.pt": CHECKPOINT, "curves.png": FIGURE,
                "curves-compare.png": FIGURE, "tensorboard": LOG}  # (report.html: known by its mark)
RUN_MARKERS = ("config.json", "trials.json")  # a run (or a set of trials) lives here
SWEEP_MARKER = "sweep.json"


# ---- the manifest -------------------------------------------------------------------------------

def record_written(folder: str | Path, name: str, kind: str) -> None:
    """Note in `folder`'s manifest that cnnkit wrote `name` (a file or subfolder of
    `folder`) of `kind`, so a later write may replace it and --overwrite may remove it."""
    folder = Path(folder)
    have = written(folder)
    if (have or {}).get(name) == kind:
        return
    folder.mkdir(parents=True, exist_ok=True)
    entries = {name: kind}
    if have is None and is_legacy_folder(folder):
        # The first manifest of a folder an earlier cnnkit wrote (a resumed old run) lists what
        # that cnnkit wrote too: from now on the manifest alone says what is cnnkit's.
        entries = {**legacy_entries(folder), name: kind}
    line = "".join(json.dumps({"name": n, "kind": k}) + "\n" for n, k in entries.items())
    fd = os.open(folder / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, line.encode())  # one short O_APPEND write: concurrent writers interleave whole lines
    finally:
        os.close(fd)


def written(folder: str | Path) -> Optional[dict[str, str]]:
    """{name: kind} of what cnnkit recorded writing in `folder`; None without a manifest."""
    f = Path(folder) / MANIFEST
    try:
        text = f.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            out[str(entry["name"])] = str(entry["kind"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn or edited line: that entry is simply not cnnkit's any more
    return out


def _rewrite_manifest(folder: Path, entries: dict[str, str]) -> None:
    f = folder / MANIFEST
    if not entries:
        f.unlink(missing_ok=True)
        return
    text = "".join(json.dumps({"name": n, "kind": k}) + "\n" for n, k in entries.items())
    write_atomic_with(f, lambda fh: fh.write(text))


# ---- whose file is this -------------------------------------------------------------------------

def is_legacy_folder(folder: Path) -> bool:
    """A folder cnnkit wrote before manifests: a config.json with cnnkit's run settings beside
    the run's metrics.csv or last.pt, or a trials.json / sweep.json with cnnkit's keys (a
    project's own config.json with a "model" key is not enough; the lock file alone is no
    proof either: a refused start may leave one)."""
    checks = (("config.json", ("model", "dataset", "optimizer", "seed", "epochs"), ("metrics.csv", "last.pt")),
              ("trials.json", ("trials", "runs", "seeds"), ()), ("sweep.json", ("variants", "model", "vary"), ()))
    for name, keys, beside in checks:
        try:
            data = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and all(k in data for k in keys) and (not beside or any((folder / b).exists() for b in beside)):
            return True
    return False


def owned_kind(path: str | Path) -> Optional[str]:
    """The kind of file cnnkit wrote at `path`, or None when it is not cnnkit's (or absent)."""
    path = Path(path)
    listed = written(path.parent)
    if listed and path.name in listed:
        return listed[path.name]
    if path.is_file():
        marked = marked_kind(path)
        if marked:
            return marked
    if listed is None and path.name in LEGACY_NAMES and is_legacy_folder(path.parent):
        return LEGACY_NAMES[path.name]
    if listed is None and path.is_dir() and is_legacy_folder(path.parent) and is_legacy_folder(path):
        return FOLDER  # a trial or variant folder of an earlier cnnkit
    return None


def legacy_entries(folder: Path) -> dict[str, str]:
    """What an earlier cnnkit (no manifest) wrote in `folder`: its exact names, a report that
    carries the report mark, and trial / variant folders that are themselves cnnkit's."""
    if not is_legacy_folder(folder):
        return {}
    out = {n: k for n, k in LEGACY_NAMES.items() if (folder / n).exists()}
    if (folder / "report.html").is_file() and marked_kind(folder / "report.html") == REPORT:
        out["report.html"] = REPORT
    out.update({c.name: FOLDER for c in sorted(folder.iterdir())
                if c.is_dir() and not c.is_symlink() and c.name != "tensorboard" and is_legacy_folder(c)})
    return out


def marked_kind(path: Path) -> Optional[str]:
    """FIGURE / REPORT / MASK when the file carries cnnkit's mark, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        software = _png_text(head, b"Software")
        if software and software.startswith(MARK.encode()):
            return MASK if software.startswith(b"cnnkit predict") else FIGURE
        return None
    if head.startswith(b"GIF8"):
        return FIGURE if b"\x21\xfe" in head and b"cnnkit" in head else None  # a comment extension with our text
    text = head.decode("utf-8", "replace")
    if "<!-- cnnkit" in text and "<svg" in text:
        return FIGURE
    if '<meta name="generator" content="cnnkit' in text or "<title>cnnkit report" in text:
        return REPORT
    return None


def _png_text(data: bytes, key: bytes) -> Optional[bytes]:
    """The value of a tEXt chunk `key` among the PNG chunks in `data` (those before the image data)."""
    i = 8
    while i + 8 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        body = data[i + 8:i + 8 + n]
        if kind == b"tEXt" and body.split(b"\0", 1)[0] == key:
            return body.split(b"\0", 1)[1] if b"\0" in body else b""
        if kind in (b"IDAT", b"IEND"):
            return None
        i += 12 + n
    return None


# ---- may cnnkit write here ----------------------------------------------------------------------

def same_file(a: str | Path, b: str | Path) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | Path, kind: str, inputs: Iterable = (), flag: str = "--out") -> Path:
    """Refuse (CnnkitError naming the file and what to do) unless `path` may receive a file of `kind`."""
    path = Path(path)
    if path.is_dir():
        raise CnnkitError(f"{flag} {path} is a folder; give a file name")
    for given in inputs:
        if given is not None and same_file(path, given):
            raise CnnkitError(f"{flag} {path} is also an input of this command; choose another {flag}, "
                              "so the file it reads is not replaced")
    if not os.path.lexists(path):
        return path
    have = owned_kind(path)
    if have is None:
        raise CnnkitError(f"{path} exists and is not a file cnnkit wrote; choose another {flag} "
                          "(cnnkit never replaces a file of yours, even with --overwrite)")
    if have != kind:
        raise CnnkitError(f"{path} is {WORDS.get(have, have)} that cnnkit wrote, not {WORDS.get(kind, kind)}; "
                          f"choose another {flag}")
    return path


def write_output(path: str | Path, kind: str, write: Callable[[IO], None], binary: bool = False,
                 inputs: Iterable = (), fsync: bool = False, flag: str = "--out") -> Path:
    """check_output, then write atomically (cnnkit.atomic) and note it in the folder's manifest
    (kinds that carry a mark skip the manifest in a folder that is not cnnkit's)."""
    path = check_output(path, kind, inputs, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_with(path, write, binary=binary, fsync=fsync)
    if kind not in MARKED or written(path.parent) is not None or is_legacy_folder(path.parent):
        record_written(path.parent, path.name, kind)
    return path


# ---- folders --------------------------------------------------------------------------------------

def folder_role(folder: str | Path) -> Optional[str]:
    """'sweep', 'run' (a run or a set of trials) or None, from what cnnkit wrote there."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if owned_kind(folder / SWEEP_MARKER) == RECORD:
        return "sweep"
    if any(owned_kind(folder / n) == RECORD for n in RUN_MARKERS):
        return "run"
    return None


def check_new_folder(folder: str | Path, role: str, nested: bool = False) -> None:
    """A new run (role 'run') or sweep ('sweep') may go in `folder`: it is not the other kind
    of folder, and (unless `nested`: a trial or variant cnnkit itself places) not inside a run
    or sweep folder."""
    folder = Path(folder)
    have = folder_role(folder)
    if have and have != role:
        cmd = "cnnkit sweep" if have == "sweep" else "cnnkit train"
        raise CnnkitError(f"--out {folder} is a {have} folder ({cmd} wrote it), not a {role} folder; "
                          f"choose another --out for the {role} (--overwrite does not turn one into the other)")
    if nested:
        return
    for parent in folder.resolve().parents:
        outer = folder_role(parent)
        if outer:
            raise CnnkitError(f"--out {folder} is inside the {outer} folder {parent}; choose an --out outside it "
                              f"(a {role} inside a {outer} would be deleted with it)")


def check_collisions(folder: str | Path, names: dict[str, str]) -> None:
    """No name a run writes in `folder` is taken by a file of the user's (any file cnnkit
    wrote there is replaced by the run, or cleared first by --overwrite)."""
    folder = Path(folder)
    for name, kind in names.items():
        p = folder / name
        if os.path.lexists(p) and owned_kind(p) is None:
            raise CnnkitError(f"{p} is not cnnkit's, and a run writes {WORDS[kind]} there; choose another --out "
                              "(cnnkit never replaces a file of yours, even with --overwrite)")


def check_outside(out: str | Path, dataset_roots: Iterable, flag: str = "--out") -> None:
    """Refuse an output path inside (or equal to) a dataset folder the command reads: what
    cnnkit writes there would be read as data next time."""
    try:
        o = Path(out).resolve()
    except OSError:
        return
    for root in dataset_roots:
        if root is None:
            continue
        r = Path(root).resolve()
        if o == r or r in o.parents:
            raise CnnkitError(f"{flag} {out} is inside the dataset folder {root} that this command reads; "
                              f"choose an {flag} outside it, so its files do not become part of the data")


def check_inputs_not_inside(folder: str | Path, inputs: Iterable, flag: str = "--out") -> None:
    """A folder a command may clear (--overwrite) holds none of the command's inputs that
    cnnkit wrote: clearing it would delete the file the command is about to read
    (train --weights RUN/best.pt --out RUN --overwrite)."""
    try:
        f = Path(folder).resolve()
    except OSError:
        return
    for given in inputs:
        if given is None:
            continue
        p = Path(given).resolve()
        if f in p.parents and owned_kind(p) is not None:  # cnnkit's file there: --overwrite would delete it
            raise CnnkitError(f"{given} is inside {flag} {folder}, whose run files this command replaces; "
                              f"copy it out of that folder first, or choose another {flag}")


def dataset_folders(spec: Optional[str]) -> list[Path]:
    """The folders a `folder:PATH` / `segfolder:PATH` dataset spec reads (none for built-in data)."""
    if not spec or ":" not in str(spec):
        return []
    scheme, rest = str(spec).split(":", 1)
    if scheme not in ("folder", "segfolder"):
        return []
    return [Path(p) for p in rest.split(",") if p]


def clear_written(folder: str | Path) -> list[Path]:
    """--overwrite: delete what cnnkit wrote in `folder`: the files its manifest lists (a
    folder without one: cnnkit's exact names, if cnnkit wrote the folder), the event files of
    its log folder, and, recursively, the run folders it lists. A file of the user's stays,
    and so does any folder still holding one. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    listed = written(folder)
    if listed is None:
        listed = legacy_entries(folder)
    removed = []
    for name, kind in listed.items():
        p = folder / name
        if "/" in name or name in ("", ".", "..") or p.is_symlink():
            continue  # a manifest names files in its own folder only; a link is not followed
        if kind in (FOLDER, LOG) and p.is_dir():
            if kind == FOLDER:
                removed += clear_written(p)
            else:  # event files only cnnkit (TensorBoard's writer) puts there
                for f in p.iterdir():
                    if f.is_file() and fnmatch.fnmatch(f.name, "events.out.tfevents.*"):
                        f.unlink()
                        removed.append(f)
            (p / LOCK).unlink(missing_ok=True)
            try:
                p.rmdir()
                removed.append(p)
            except OSError:
                pass  # a file of the user's keeps the folder
        elif p.is_file():
            p.unlink()
            removed.append(p)
        for tmp in folder.glob(f".{glob_escape(name)}.*.tmp"):  # what a killed atomic write left
            tmp.unlink(missing_ok=True)
    _rewrite_manifest(folder, {n: k for n, k in listed.items() if os.path.lexists(folder / n)})
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)

