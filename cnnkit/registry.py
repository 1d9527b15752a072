"""The one model registry (timm / torchvision style).

    @register_model("convnet", task="classification", input_shape=(3, 32, 32), ...)
    def convnet(num_classes=10, in_channels=3, batchnorm=False, ...): ...

    create_model("convnet", num_classes=10, batchnorm=True)
    list_models("resnet*", task="classification")

A name maps to one builder plus preset keyword arguments, so variants are
keyword arguments of one builder, never copied classes. `create_model` records
the name and the resolved keyword arguments on the model (`cnnkit_config`), which
is what a checkpoint stores to rebuild it. Standard library only: importing
`cnnkit.models` registers the builders.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError, GeometryError

TASKS = ("classification", "segmentation")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., Any]
    task: str
    input_shape: tuple[int, int, int]  # default (C, H, W)
    num_classes: int  # default number of classes
    description: str  # one line, with the coursework it comes from
    first_conv: str | None  # module path of the first conv layer (filters are drawn from it); None: find it
    gradcam_layer: str | None  # module path Grad-CAM should use (last spatial feature map); None: find it
    preset: dict[str, Any] = field(default_factory=dict)  # builder kwargs this name fixes

    def options(self) -> dict[str, Any]:
        """The builder's keyword options and their defaults (with this preset applied)."""
        params = inspect.signature(self.builder).parameters
        opts = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
        opts.update(self.preset)
        opts.pop("num_classes", None)
        opts.pop("in_channels", None)
        return opts

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "description": self.description,
            "first_conv": self.first_conv,
            "gradcam_layer": self.gradcam_layer,
        }


class UnknownModelError(CnnkitError):
    pass


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    task: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    description: str,
    first_conv: str,
    gradcam_layer: str,
    builder: Callable[..., Any] | None = None,
    **preset: Any,
):
    """Register `builder` (or the decorated function) under `name`.

    Extra keyword arguments are a preset: builder options this name fixes
    (e.g. ``register_model("convnet-net2", ..., builder=convnet, dropout=0.05)``).
    Raises ValueError on a duplicate name: the registry never overwrites.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and not _same_definition(_REGISTRY[name].builder, fn):
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, fn, task, tuple(input_shape), num_classes, description,
                                    first_conv, gradcam_layer, dict(preset))
        return fn

    return add(builder) if builder is not None else add


def _same_definition(old: Callable[..., Any], new: Callable[..., Any]) -> bool:
    """A file imported again (a checkpoint rebuilt from a run's kept copy of the source)
    registers its builders again: the same qualified name from a file of the same name
    replaces the entry, anything else under a taken name is refused."""
    def where(fn):
        code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__init__", None), "__code__", None)
        return getattr(fn, "__qualname__", None), Path(code.co_filename).name if code else None
    return where(old) == where(new) and where(new)[1] is not None and not where(new)[1].startswith("<")


def register(obj: Any = None, /, name: str | None = None, *, task: str = "classification",
             input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10, description: str = "",
             first_conv: str | None = None, gradcam_layer: str | None = None, **preset: Any):
    """`cnnkit.register_model`: put your own network class or builder function in the registry.

        @cnnkit.register_model                      # registered as "net1"
        class Net1(nn.Module): ...

        @cnnkit.register_model("net2", num_classes=4, input_shape=(1, 28, 28))
        def make_net2(num_classes=4, width=32): ...

        cnnkit.register_model(Net1, "my-net1")       # no decorator

    Registered in a file, the name is known once that file is loaded (`cnnkit train
    my_net.py:net1`, or in the same Python session `cnnkit.train("net1", ...)`); in an
    installed package, list it under the `cnnkit.models` entry points. `num_classes` and
    `in_channels` are passed only when the constructor takes them; `first_conv` /
    `gradcam_layer` (module names, as `named_modules()` gives them) default to the first
    conv and the last feature map larger than 1x1."""
    if isinstance(obj, str):  # @register_model("net2", ...)
        obj, name = None, obj

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        label = name or getattr(fn, "__name__", "").lower()
        if not label:
            raise ValueError("give register_model a name for this object")
        register_model(label, task=task, input_shape=input_shape, num_classes=num_classes,
                       description=description or (inspect.getdoc(fn) or "").split("\n")[0] or f"{label} (your own network)",
                       first_conv=first_conv, gradcam_layer=gradcam_layer, builder=_adapted(fn), **preset)
        return fn

    return add(obj) if obj is not None else add


def _adapted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` behind the registry's calling convention (num_classes and in_channels always
    passed): the ones its signature does not take are dropped. The signature shown to
    `options()` is fn's own plus those two."""
    import functools

    sig = inspect.signature(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

    @functools.wraps(fn)
    def builder(**kwargs):
        return fn(**{k: v for k, v in kwargs.items() if takes_any or k in sig.parameters})

    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for extra in ("num_classes", "in_channels"):
        if extra not in sig.parameters:
            params.append(inspect.Parameter(extra, inspect.Parameter.KEYWORD_ONLY, default=None))
    params = sorted(params, key=lambda p: p.kind)  # a valid order: positional-or-keyword before keyword-only
    builder.__signature__ = sig.replace(parameters=params)
    builder.__cnnkit_original__ = fn
    return builder


# Names a model was known by before: checkpoints that record them still load.
RENAMED = {"resnet18-seed004": "resnet18-strided"}


def get_spec(name: str) -> ModelSpec:
    _ensure_models_imported()
    try:
        return _REGISTRY[RENAMED.get(name, name)]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownModelError(f"unknown model {name!r}; {hint}`cnnkit models` lists them all") from None


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered names matching a shell-style pattern, optionally of one task."""
    _ensure_models_imported()
    if task is not None and task not in TASKS:
        raise CnnkitError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return sorted(n for n, s in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and (task is None or s.task == task))


def resolve_kwargs(name: str, num_classes: int | None = None, in_channels: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """The full keyword arguments `create_model` would pass to the builder.

    Unset options (None) are ignored, so callers can forward CLI options as they are.
    Unknown options are an error that lists the valid ones.
    """
    spec = get_spec(name)
    valid = spec.options()
    given = {k: v for k, v in kwargs.items() if v is not None}
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise CnnkitError(
            f"model {name!r} has no option {', '.join(unknown)}; its options are: {', '.join(sorted(valid)) or 'none'}"
        )
    fixed = {k: v for k, v in given.items() if k in spec.preset and spec.preset[k] != v}
    if fixed:
        raise CnnkitError(
            f"{name!r} is a preset that fixes {', '.join(fixed)}; use the base model to change it"
        )
    for key, value in given.items():
        check_option_value(name, key, value, valid[key])
    resolved = {**valid, **given}
    resolved["num_classes"] = spec.num_classes if num_classes is None else num_classes
    resolved["in_channels"] = spec.input_shape[0] if in_channels is None else in_channels
    for key, flag in (("num_classes", "--classes"), ("in_channels", "input channels")):
        v = resolved[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CnnkitError(f"{flag} must be a whole number, at least 1; got {v!r}")
    return resolved


def check_option_value(name: str, key: str, value: Any, default: Any) -> None:
    """A model option must have its default's type (a number where the default is a number,
    ...), be finite, and not be negative; rates (dropout) lie in [0, 1)."""
    import math

    where = f"model option {key}={value!r} of {name!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise CnnkitError(f"{where}: give true or false, e.g. --opt {key}=false")
        return
    if isinstance(default, (int, float)) and default is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CnnkitError(f"{where}: give a number like its default, e.g. --opt {key}={default}")
        if isinstance(default, int) and not isinstance(value, int):
            raise CnnkitError(f"{where}: give a whole number, e.g. --opt {key}={default}")
        if value < 0 or (isinstance(default, int) and default > 0 and value == 0):
            raise CnnkitError(f"{where}: must be {'positive' if isinstance(default, int) and default > 0 else 'zero or more'}, "
                              f"e.g. --opt {key}={default}")
        if "dropout" in key and not value < 1:
            raise CnnkitError(f"{where}: a dropout rate lies in [0, 1), e.g. --opt {key}=0.5")
    elif isinstance(default, str) and not isinstance(value, str):
        raise CnnkitError(f"{where}: give a name, e.g. --opt {key}={default}")
    elif isinstance(default, (tuple, list)):
        example = f"--opt {key}=({','.join(map(str, default))})"
        if not isinstance(value, (tuple, list)) or not value:
            raise CnnkitError(f"{where}: give a list like its default, e.g. {example}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise CnnkitError(f"{where}: every entry must be a positive number, e.g. {example}")


def create_model(name: str, num_classes: int | None = None, in_channels: int | None = None, **kwargs: Any):
    """Build a registered model. The result carries `cnnkit_config` = {name, kwargs}."""
    spec = get_spec(name)
    resolved = resolve_kwargs(name, num_classes, in_channels, **kwargs)
    try:
        model = spec.builder(**resolved)
    except CnnkitError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError, MemoryError) as e:  # a value the builder cannot use
        given = {k: v for k, v in kwargs.items() if v is not None}
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items()) or "its defaults"
        text = str(e)
        if isinstance(e, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower():
            import re

            wanted = re.search(r"allocate (\d+) bytes", text)
            size = f" ({int(wanted.group(1)) / 2**30:.1f} GiB for one weight tensor)" if wanted else ""
            sizes = ", ".join(f"{k}={v:,}" for k, v in (("num_classes", num_classes), ("in_channels", in_channels))
                              if isinstance(v, int)) + (f", {shown}" if given else "")
            raise CnnkitError(f"{name} with {sizes} needs more memory than this machine has{size}; its weights grow "
                              "with the number of classes, the widths and (after a flatten) the input size: use fewer --classes, a smaller "
                              "--input or smaller --opt values") from None
        raise CnnkitError(f"{name} cannot be built with {shown}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; "
                          f"check the --opt values (cnnkit summary {name} builds it with its defaults)") from None
    model.cnnkit_config = {"name": name, "kwargs": resolved}
    return model


_builtin_loaded = False


def create_for_input(name: str, input_shape: tuple[int, int, int], num_classes: int | None = None, **kwargs: Any):
    """`create_model` for a given (C, H, W): sets in_channels and, for builders whose
    flatten size depends on it, input_size (square inputs)."""
    c, h, w = input_shape
    if "input_size" in get_spec(name).options() and kwargs.get("input_size") is None:
        if h != w:
            raise CnnkitError(f"{name} takes square inputs only (its classifier size depends on H = W); got {h}x{w}")
        kwargs["input_size"] = h
    try:
        return create_model(name, num_classes=num_classes, in_channels=c, **kwargs)
    except GeometryError as e:
        raise GeometryError(f"{name} cannot take a {c}x{h}x{w} input: {e}") from None


def _ensure_models_imported() -> None:
    # The built-in builders live in cnnkit.models; importing it fills the registry.
    # Done lazily so that `import cnnkit.registry` stays free of torch.
    global _builtin_loaded
    if not _builtin_loaded:
        _builtin_loaded = True
        import cnnkit.models  # noqa: F401

        _load_entry_points()


ENTRY_POINT_GROUP = "cnnkit.models"


def _load_entry_points() -> None:
    """Names installed packages add (the `cnnkit.models` entry-point group, as pytest and
    timm plugins work). An entry point names a module, which registers its models with
    `cnnkit.register_model` when imported, or a class / builder function, registered
    under the entry point's name. A package that fails to load is an error naming it:
    a silently missing model would be a worse surprise."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # their package's import failed
            package = ep.dist.name if ep.dist else ep.value
            first = str(e).splitlines()[0] if str(e) else ""
            raise CnnkitError(f"the installed package {package} adds models to cnnkit ({ep.name} = {ep.value}) but "
                              f"loading it failed: {type(e).__name__}: {first}; reinstall or uninstall it "
                              f"(pip uninstall {package})") from None
        if not inspect.ismodule(obj) and callable(obj) and ep.name not in _REGISTRY:
            register(obj, ep.name)
