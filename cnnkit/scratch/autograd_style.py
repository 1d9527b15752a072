"""Layers written as torch.autograd.Function (static forward(ctx, ...) / backward(ctx, dy)),
the style many courses teach, reached through the two interfaces the checker already drives.

* A bare Function (`class ReLU(torch.autograd.Function)`) becomes a function pair:
  forward(x, *params, **settings) -> (y, cache) calls `.apply`, and backward(dy, cache)
  runs autograd once through the graph `.apply` built, which calls *their* backward(ctx, dy).
* A module without backward() whose forward calls a Function's `.apply` (the usual
  nn.Module wrapper) is driven the same way by ClassLayer (student.py).

Autograd only ever runs the student's backward here: a forward built from plain torch ops
(no Function of theirs in its graph) has no backward of theirs, and is refused rather than
"passed" on PyTorch's own gradients.
"""

from __future__ import annotations

import inspect

import torch


def is_function(obj) -> bool:
    return inspect.isclass(obj) and issubclass(obj, torch.autograd.Function)


def own_functions(y) -> list[str]:
    """Names of the student's autograd.Function classes in the graph that produced y."""
    names, seen, stack = [], set(), [getattr(y, "grad_fn", None)]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        cls = getattr(node, "_forward_cls", None)  # set on the backward node of every custom Function
        if cls is not None and not cls.__module__.startswith("torch"):
            names.append(cls.__name__)
        stack.extend(n for n, _ in getattr(node, "next_functions", ()))
    return names


NO_BACKWARD = ("your {name} has no backward(dy) method and its forward calls no torch.autograd.Function of yours, "
               "so there is no backward of yours to check: add backward(dy), or compute forward through "
               "YourFunction.apply(...) with static forward(ctx, ...) / backward(ctx, dy)")


def leaves(values: list) -> list:
    """Float tensors as fresh leaves that record gradients (others unchanged)."""
    return [v.detach().clone().requires_grad_(True) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
            for v in values]


def grads(y, inputs: list, dy) -> list:
    """d<y, dy>/d input for each tensor input (None where the graph does not reach it)."""
    wanted = [v for v in inputs if isinstance(v, torch.Tensor) and v.requires_grad]
    got = iter(torch.autograd.grad(y, wanted, dy, allow_unused=True)) if wanted else iter(())
    return [next(got) if isinstance(v, torch.Tensor) and v.requires_grad else None for v in inputs]


class Applied:
    """A Function's forward as a plain function forward(x, w, b, stride=...) -> (y, cache):
    its signature without ctx, so FunctionLayer matches parameters and settings by name."""

    def __init__(self, fn_cls):
        sig = inspect.signature(fn_cls.forward)
        self.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])  # drop ctx
        self.__name__ = f"{fn_cls.__name__}.forward"
        self.fn_cls = fn_cls

    def __call__(self, *args, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = leaves(list(bound.arguments.values()))
        y = self.fn_cls.apply(*inputs)  # apply takes its arguments positionally
        return y, (y, inputs)


class AppliedBackward:
    """backward(dy, cache) -> (dx, d<param>...) in forward's argument order, through their backward."""

    def __init__(self, fn_cls):
        self.__name__ = f"{fn_cls.__name__}.backward"

    def __call__(self, dy, cache):
        y, inputs = cache
        return tuple(g for g, v in zip(grads(y, inputs, dy), inputs) if isinstance(v, torch.Tensor))
