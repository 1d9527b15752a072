"""The gradient checker from Python: `cnnkit gradcheck` as a function.

    result = cnnkit.gradcheck("my_layers.py", layers=["Conv2d"], map={"Linear": "FullyConnected"})
    result["passed"], result["summary"]["score"]

Returns the command's `--json` object; a failed check is a result (passed False), not an
exception (the command exits 1 after printing it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union


def gradcheck(impl: Union[str, Path, None] = None, layers: Optional[list[str]] = None,
              map: Union[dict[str, str], list[str], None] = None, seed: int = 0) -> dict:  # noqa: A002 - the CLI's --map
    """Forward outputs and input / parameter gradients of from-scratch layers against PyTorch
    in float64, plus finite differences.

    `impl`: your Python file (it is imported, so its code runs), default cnnkit's own
    reference layers; `layers`: check only these (e.g. ["Conv2d"]); `map`: your names for
    layers, {"Conv2d": "MyConv"} or ["Conv2d=MyConv"] as --map. Returns {'checks': [...],
    'passed', 'missing', 'found', 'summary': {'passed', 'failed', 'errors', 'not_checked', 'score'}}."""
    from cnnkit.api.plain import plain
    from cnnkit.scratch.gradcheck import load_impl, parse_map, run_checks

    items = [f"{k}={v}" for k, v in map.items()] if isinstance(map, dict) else map
    mapping = parse_map(items)
    module = load_impl(str(impl)) if impl else None
    return plain(run_checks(module, layers, seed, mapping))
