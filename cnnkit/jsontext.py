"""Strict JSON text for everything cnnkit prints or writes as JSON.

Python's json writes NaN and Infinity, which are not JSON (`JSON.parse`, jq and strict
parsers refuse them). A value that does not exist as a number (a diverged loss, a class
with no images) is null instead, so every --json output and run file parses strictly.
Standard library only.
"""

from __future__ import annotations

import json
import math
from pathlib import PurePath


def finite(obj):
    """obj with every NaN / inf float replaced by None, tuples as lists, paths as str,
    tensors and arrays as lists (recursively)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k if isinstance(k, (str, int, float, bool)) or k is None else str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # torch tensors, numpy arrays and scalars
        return finite(obj.tolist())
    return obj


def dumps(obj, default=str, **kwargs) -> str:
    """json.dumps of finite(obj), refusing NaN/inf should any remain (allow_nan=False)."""
    return json.dumps(finite(obj), allow_nan=False, default=default, **kwargs)
