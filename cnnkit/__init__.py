"""cnnkit: a toolkit for learning, teaching and experimenting with CNNs, from the
command line (`cnnkit --help`) or from Python and notebooks (docs/python.md).

    import cnnkit
    cnnkit.shape(512, k=9, p=1)["output"]                       # [506]
    cnnkit.layers("3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10")
    run = cnnkit.train("convnet", dataset="shapes", epochs=3)   # a Run: dir, metrics, summary, best, curves()
    cnnkit.evaluate(run.best)["accuracy"]

What is here: conv arithmetic (shape, solve, layers, conv), a model's layers
(summary; the registry's list is cnnkit.api.models(); your own network: cnnkit.register_model), training and evaluation (train, open_run, evaluate, predict,
load), sweeps and their tables and reports (sweep, compare, report), datasets (datasets,
check_data), drawings of the arithmetic (draw_layer, draw_receptive_field), the gradient
checker (gradcheck), figures (cnnkit.visualize), and the errors every function raises on bad
input (CnnkitError). The names are the commands' names, with the same defaults, and
results equal the commands' `--json` output.

Importing the package is cheap on purpose: no torch until a function needs it, so
`cnnkit shape` and `import cnnkit` start fast. The names below are loaded on first use.
"""

from cnnkit.errors import CnnkitError
from cnnkit.notebook import register_figure_display

__version__ = "0.1.0"
register_figure_display()  # in Jupyter, returned Figures show inline (a no-op elsewhere)

# name -> module that defines it (imported on first attribute access)
_API = {
    "shape": "cnnkit.api.arith", "solve": "cnnkit.api.arith", "layers": "cnnkit.api.arith", "conv": "cnnkit.api.arith",
    "summary": "cnnkit.api.zoo",  # the model list is cnnkit.api.models(): cnnkit.models is the model package
    "train": "cnnkit.api.training", "open_run": "cnnkit.api.training", "Run": "cnnkit.api.training",
    "Trials": "cnnkit.api.training",
    "evaluate": "cnnkit.api.inference", "predict": "cnnkit.api.inference", "load": "cnnkit.api.inference",
    "Predictor": "cnnkit.api.inference",
    "sweep": "cnnkit.api.experiments", "compare": "cnnkit.api.experiments", "report": "cnnkit.api.experiments",
    "register_model": "cnnkit.registry:register",  # your own network under a name (stdlib only: no torch)
    "explore": "cnnkit.api.web",
    "datasets": "cnnkit.api.data", "check_data": "cnnkit.api.data",
    "draw_layer": "cnnkit.api.draw", "draw_receptive_field": "cnnkit.api.draw",
    "gradcheck": "cnnkit.api.scratch",
}
_MODULES = {"visualize": "cnnkit.api.visualize"}  # modules exposed as attributes

__all__ = ["CnnkitError", "__version__", *_API, *_MODULES]


def __getattr__(name: str):
    import importlib

    if name in _API:
        module, _, attr = _API[name].partition(":")
        value = getattr(importlib.import_module(module), attr or name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
