"""Reading a text file a user wrote (a matrix, a sweep file, classes.txt): bounded, and
with every decoding problem told against that file.

Editors save text in more than one way: Windows Notepad starts UTF-8 with a byte-order
mark (BOM, U+FEFF) and may save as UTF-16; older tools save Latin-1. A BOM is not part
of the text, so it is removed; UTF-16 with its BOM is decoded; anything else that is
not UTF-8 is refused with the file's name, the offending byte and how to re-save it.
The read is bounded so that a device or a huge file (/dev/zero) cannot hang the command.
Standard library only: `cnnkit/arith` uses it and must stay free of torch.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from cnnkit.errors import CnnkitError

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_user_text(path: str | os.PathLike, what: str, limit_bytes: int = 1 << 20) -> str:
    """The text of `path` (a `what`, e.g. "matrix file"), at most `limit_bytes` long.

    Raises CnnkitError naming the file when it is too long, not text, or unreadable."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(limit_bytes + 1)
    except OSError as e:  # missing, a folder, permissions
        raise CnnkitError(f"cannot read {p}: {e.strerror or type(e).__name__}; check the path") from None
    if len(data) > limit_bytes:
        raise CnnkitError(f"{p} is longer than {_size(limit_bytes)}, too long for a {what}; "
                          "check that it is the right file")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # Notepad's UTF-8 marker, not text
    elif data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CnnkitError(f"{p} starts like UTF-16 text but is damaged; save the {what} again as UTF-8") from None
    if b"\x00" in data:
        raise CnnkitError(f"{p} is not a text file (it holds zero bytes); give the {what} as plain UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CnnkitError(f"{p} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}; "
                          f"Latin-1 or another encoding?); save the {what} as UTF-8") from None


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} bytes"
