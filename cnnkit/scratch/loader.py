"""Importing a student's layer file, and naming the line of *their* code that crashed.

A bad file (missing, binary, not Python, a syntax error, an import that fails) is bad
input: CnnkitError, one line. The file's own folder is importable while it loads (so
`from helpers import im2col` works) and sys.path is restored afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import traceback
from pathlib import Path

from cnnkit.errors import CnnkitError


class StudentCrash(Exception):
    """The student's code raised: `where` says 'your code crashed at file.py:LINE in func: Type: message'."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


def crash_site(exc: BaseException, folder: Path | None) -> str:
    """Where the student's code raised, from the last traceback frame in their folder. No such
    frame means the call itself failed (e.g. backward(self, dy, x) called with dy only)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if folder is not None:
        frames = [f for f in frames if Path(f.filename).resolve().is_relative_to(folder)]
    else:  # cnnkit's own reference layers: the last frame outside the checker
        frames = [f for f in frames if "cnnkit/scratch/adapt" not in f.filename.replace("\\", "/")]
    message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    if not frames:
        return f"calling your code failed: {message}"
    f = frames[-1]
    return f"your code crashed at {Path(f.filename).name}:{f.lineno} in {f.name}: {message}"


def load_impl(path: str | Path, flag: str = "--impl", wants: str = "defining classes such as Conv2d and Linear"):
    """Import a student's file (this runs its code, like any import) and return the module.

    `flag` and `wants` name the option and what the file should hold in the messages
    (`--impl`, or a model file). The module gets `__cnnkit_folder__`, the folder used to
    spot the student's frames."""
    path = Path(path)
    if path.is_dir():
        raise CnnkitError(f"{flag} {path} is a folder; give the .py file {wants}")
    if not path.is_file():
        raise CnnkitError(f"{flag} {path} does not exist; give a .py file {wants}")
    data = path.read_bytes()
    if b"\0" in data[:4096]:
        raise CnnkitError(f"{flag} {path} is a binary file, not Python source; give your .py file")
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CnnkitError(f"{flag} {path} is not UTF-8 text; save it as UTF-8 Python source") from None
    return load_source(source, path)


def load_source(source: str, path: str | Path, folder: Path | None = None):
    """Run `source` as the module of file `path` (its name in every message and traceback);
    `folder` (default: the file's) is importable meanwhile, for the file's own helper modules.
    A run directory's kept copy of a model file is loaded this way under its original name."""
    path = Path(path)
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        raise CnnkitError(f"{path.name}:{e.lineno}: syntax error: {e.msg}; fix the file and run again") from None
    folder = folder or path.resolve().parent
    name = f"cnnkit_student_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    module.__cnnkit_folder__ = folder
    before_path, before_modules = list(sys.path), set(sys.modules)
    sys.path.insert(0, str(folder))
    sys.modules[name] = module
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(code, module.__dict__)  # prints at import time would break --json and the one error line
    except Exception as e:  # their import failed: say where, in their file
        sys.modules.pop(name, None)
        raise CnnkitError(f"importing {path.name} failed: {crash_site(e, folder)}") from None
    finally:
        sys.path[:] = before_path
        # helper modules imported from their folder leave too, so a file called
        # layers.py there cannot shadow another module later in this process
        for added in set(sys.modules) - before_modules:
            origin = getattr(sys.modules[added], "__file__", None) or ""
            if added != name and origin and Path(origin).resolve().is_relative_to(folder):
                del sys.modules[added]
    return module
