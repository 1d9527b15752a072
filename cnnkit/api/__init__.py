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

from cnnkit.api.arith import conv, layers, shape, solve
from cnnkit.api.inference import Predictor, evaluate, load, predict
from cnnkit.api.training import Run, Trials, open_run, train
from cnnkit.api.zoo import models, summary

__all__ = ["shape", "solve", "layers", "conv", "models", "summary", "train", "open_run", "Run", "Trials",
           "evaluate", "predict", "load", "Predictor"]
