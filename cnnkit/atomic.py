"""Atomic file writes: a temporary file in the same folder, then os.replace, so a reader
(or a crash) never sees half a file under the real name.

The file gets the permissions an ordinary `open(path, "w")` would give (0666 less the
umask), not mkstemp's private 0600: a run's results are meant to be shared.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def write_atomic_with(path: str | Path, write: Callable[[IO], None], binary: bool = False, fsync: bool = False) -> Path:
    """Call write(f) on a temporary file beside `path`, then move it into place.

    OS errors name `path` (the file the user cares about), never the temporary file;
    on any failure the temporary file is removed."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise type(e)(e.errno, e.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk fails the write itself, with no file name in the error
        Path(tmp).unlink(missing_ok=True)
        raise type(e)(e.errno, e.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
