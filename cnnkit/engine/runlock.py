"""One process writes a run directory at a time: an OS lock on `DIR/.cnnkit.lock`.

    with RunLock(run_dir):      # raises RunBusy naming the holder's PID
        ... write config.json, last.pt, summary.json ...

`fcntl.flock` is held by the open file, so the operating system drops it when the
process ends in any way (Ctrl-C, SIGKILL, a crash): a stale lock file never blocks
a retry, and no PID-liveness guessing is needed. The PID written into the file is
only for the message. Under torchrun only rank 0 writes, so only rank 0 locks.
Where fcntl does not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnkit.errors import CnnkitError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".cnnkit.lock"


class RunBusy(CnnkitError):
    """Another process holds the run directory."""


class RunLock:
    def __init__(self, directory: str | Path, what: str = "run directory"):
        self.dir = Path(directory)
        self.what = what
        self.fd: int | None = None

    @property
    def path(self) -> Path:
        return self.dir / LOCK_NAME

    def acquire(self) -> RunLock:
        if self.fd is not None or fcntl is None:
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise RunBusy(f"{self.what} {self.dir} is in use by cnnkit {who}; wait for it to finish, "
                          "or choose another --out") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
