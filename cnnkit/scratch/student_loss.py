"""A student's loss behind one call: (loss, dL/dprediction) for given logits and targets.

Accepted: a class with forward(pred, target) and backward() (cnnkit's and mytorch's
style), or a function returning the loss, (loss, gradient) (CS231n's softmax_loss) or
(loss, cache) with a backward function beside it (`cross_entropy_loss_with_softmax` +
`cross_entropy_backward(probs, y)`). Integer class targets are tried first, then one-hot.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from cnnkit.errors import CnnkitError
from cnnkit.scratch.adapt import CannotAdapt, NotExpressible, call, positional_names, to_backend, to_torch

LOSS_NAMES = {
    "SoftmaxCrossEntropy": ("SoftmaxCrossEntropy", "CrossEntropyLoss", "SoftmaxCrossEntropyLoss", "CrossEntropy",
                            "cross_entropy_loss_with_softmax", "softmax_cross_entropy", "softmax_cross_entropy_loss",
                            "softmax_loss", "cross_entropy_loss", "cross_entropy"),
    "MSELoss": ("MSELoss", "MSE", "MeanSquaredError", "mse_loss", "mse", "mean_squared_error"),
}
BACKWARD_NAMES = {"SoftmaxCrossEntropy": ("cross_entropy_backward", "softmax_cross_entropy_backward",
                                          "softmax_loss_backward", "cross_entropy_loss_backward"),
                  "MSELoss": ("mse_backward", "mse_loss_backward", "mean_squared_error_backward")}


def find_loss(module, name: str, mapping: dict[str, str]):
    wanted = mapping.get(name)
    for cand in [wanted] if wanted else LOSS_NAMES[name]:
        obj = getattr(module, cand, None)
        if callable(obj) and not (module.__name__.startswith("cnnkit_student_") and
                                  getattr(obj, "__module__", "").split(".")[0] in ("torch", "numpy", "cnnkit")):
            bwd = None
            if not inspect.isclass(obj):
                for b in (f"{cand}_backward", cand.replace("forward", "backward")) + BACKWARD_NAMES[name]:
                    if b != cand and callable(getattr(module, b, None)):
                        bwd = getattr(module, b)
                        break
            return StudentLoss(obj, bwd, name, getattr(module, "__cnnkit_folder__", None), cand)
    if wanted:
        raise CnnkitError(f"--map {name}={wanted}: your file defines no {wanted}; check the spelling (names are case-sensitive)")
    return None


def one_hot(target: torch.Tensor, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(target, k).to(torch.float64)


class StudentLoss:
    def __init__(self, obj, bwd, name, folder, found_as):
        self.obj, self.bwd, self.name, self.folder = obj, bwd, name, folder
        self.is_class = inspect.isclass(obj)
        self.found_as = found_as
        self.backend = "torch"
        self.one_hot = False
        self.how = (f"class {found_as}" if self.is_class else
                    f"function {found_as}" + (f" with {bwd.__name__}" if bwd else ""))

    def accepts_ignore(self) -> bool:
        fn = self.obj.__init__ if self.is_class else self.obj
        return any(p.name == "ignore_index" for p in positional_names(fn))

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, ignore_index=None):
        """(loss, gradient or None) as torch tensors. Tries torch then numpy inputs, and
        integer then one-hot targets, keeping the first combination that runs."""
        if ignore_index is not None and not self.accepts_ignore():
            raise NotExpressible(f"your {self.found_as} has no ignore_index parameter")
        tries = [(b, h) for h in ((False, True) if target.dtype == torch.int64 else (False,)) for b in ("torch", "numpy")]
        tries.sort(key=lambda t: (t != (self.backend, self.one_hot)))  # the combination that worked last time first
        first = None
        for backend, hot in tries:
            t = one_hot(target, pred.shape[1]) if hot else target
            try:
                out = self._run(pred, t, backend, ignore_index)
            except Exception as e:  # noqa: PERF203 - keep the first crash to report
                first = first or e
                continue
            self.backend, self.one_hot = backend, hot
            return out
        raise first

    def _run(self, pred, target, backend, ignore_index):
        p, t = to_backend(pred, backend), to_backend(target, backend)
        kw = {"ignore_index": ignore_index} if ignore_index is not None else {}
        if self.is_class:
            loss_fn = call(self.obj, folder=self.folder, **kw)
            fwd = getattr(loss_fn, "forward", loss_fn)
            out = call(fwd, p, t, folder=self.folder)
            loss, second = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
            back = getattr(loss_fn, "backward", None)
            if callable(back):
                n = len([q for q in positional_names(back) if q.default is q.empty])
                second = call(back, *([p, t][:n] if n else []), folder=self.folder)
            return to_torch(loss), self._grad(second, pred)
        out = call(self.obj, p, t, folder=self.folder, **kw)
        loss, second = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
        if self.bwd is not None:
            n = len([q for q in positional_names(self.bwd) if q.default is q.empty])
            first = second if second is not None else p
            second = call(self.bwd, *[first, t][: max(n, 1)], folder=self.folder)
        elif second is not None and self._looks_like_probs(second):
            raise CannotAdapt(f"your {self.obj.__name__} returns (loss, probabilities) but the file has no backward "
                              "function: name it cross_entropy_backward(probs, y)", "input gradient")
        return to_torch(loss), self._grad(second, pred)

    @staticmethod
    def _grad(g, pred):
        return None if g is None else to_torch(g)

    @staticmethod
    def _looks_like_probs(v) -> bool:
        a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
        return a.ndim >= 2 and bool((a >= 0).all()) and bool(np.allclose(a.sum(axis=1), 1.0))
