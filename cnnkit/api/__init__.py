"""cnnkit from Python: the functions the commands call, with the commands' names and defaults.

    import cnnkit
    cnnkit.shape(512, k=9, p=1)["output"]          # [506]
    run = cnnkit.train("convnet", dataset="shapes", epochs=3)
    run.curves()                                   # a matplotlib Figure (shown inline in Jupyter)

Every function returns plain data (dicts, lists, dataclasses) equal to the matching
command's `--json` output, and raises `cnnkit.CnnkitError` with the command's
message on bad input. The submodules import torch only inside their functions, so
`import cnnkit` and the arithmetic stay free of it (docs/python.md).
"""

import importlib

# name -> submodule; loaded on first use, so `cnnkit shape` loads only api/arith.py
_NAMES = {
    "shape": "arith", "solve": "arith", "layers": "arith", "conv": "arith",
    "models": "zoo", "summary": "zoo",
    "train": "training", "open_run": "training", "Run": "training", "Trials": "training",
    "evaluate": "inference", "predict": "inference", "load": "inference", "Predictor": "inference",
    "sweep": "experiments", "compare": "experiments", "report": "experiments",
    "explore": "web", "explore_server": "web",
    "datasets": "data", "check_data": "data",
    "draw_layer": "draw", "draw_receptive_field": "draw",
    "gradcheck": "scratch",
}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name == "visualize":  # a module of figures (cnnkit.visualize), not a function
        return importlib.import_module("cnnkit.api.visualize")
    if name not in _NAMES:
        raise AttributeError(f"module 'cnnkit.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cnnkit.api.{_NAMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
