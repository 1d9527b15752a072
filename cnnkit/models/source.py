"""One notion of "a model": whatever the user names, built into an nn.Module that carries
what rebuilds it. Every command and API function that takes a model goes through here.

    build_model("convnet", num_classes=4, input_shape=(3, 32, 32))        # a registered name
    build_model("my_net.py:Net1", num_classes=4, in_channels=3)          # a class / builder in a file
    build_model("3x32x32 | conv 8 k3 | relu | flatten | linear 4")       # `cnnkit layers`' grammar
    build_model(Net1) / build_model(make_net) / build_model(Net1())      # Python objects (a notebook's too)

The model gets `cnnkit_config = {"name", "kwargs", "source"}`; `source["kind"]` is
"registry", "file", "spec" or "python" and holds what `rebuild` needs: the file's path,
the object's name, the sha256 and the text of the source (so a checkpoint rebuilds
after the file moved, changed or was deleted), or the spec string.

Loading a file runs its top level, like any import (said in the docs and in --help).
Here: which form a reference is, its names, building and rebuilding, and the checks on a
built network; the user's code is read in models/user_code.py, a layer spec built in
models/spec_model.py.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Optional

import torch.nn as nn

from cnnkit.errors import CnnkitError, SpecError
from cnnkit.models.spec_model import from_spec, normal_spec, spec_name
from cnnkit.models.user_code import (  # noqa: F401 - SOURCE_COPY, ModelCodeError: importable from here as before
    FILE_REF,
    SOURCE_COPY,
    ModelCodeError,
    construct,
    file_where,
    folder_of,
    from_file,
    from_python,
    load_file,
    lookup,
    parameters,
    python_object,
    python_where,
    run_kept,
    sha256_text,
    split_file_ref,
)


def kind_of(ref: Any) -> str:
    """"registry", "file", "spec" or "python": which form `ref` is."""
    if isinstance(ref, Path):
        ref = str(ref)
    if not isinstance(ref, str):
        return "python"
    if "|" in ref:
        return "spec"
    if FILE_REF.match(ref.strip()) or ref.strip().endswith(".py"):
        return "file"
    return "registry"


def display_name(ref: Any) -> str:
    """A short name for run folders and tables: the registered name, the file's object
    name, 'spec-<hash>' for a spec, the class name of a Python object."""
    kind = kind_of(ref)
    if kind == "registry":
        return str(ref)
    if kind == "file":
        m = FILE_REF.match(str(ref).strip())
        return m.group("name").split(".")[-1] if m else Path(str(ref)).stem
    if kind == "spec":
        return spec_name(str(ref))
    obj = ref if isinstance(ref, type) or inspect.isfunction(ref) else type(ref)
    return getattr(obj, "__name__", type(ref).__name__)


def model_label(ref: Any) -> str:
    """The model as config.json and summary.json record it: the registered name, PATH.py:NAME
    as given, the spec string, or a Python object's name."""
    kind = kind_of(ref)
    if kind == "spec":
        return normal_spec(str(ref))
    if kind in ("registry", "file"):
        return str(ref).strip()
    return display_name(ref)


def build_model(ref: Any, *, num_classes: Optional[int] = None, in_channels: Optional[int] = None,
                input_shape: Optional[tuple] = None, options: Optional[dict] = None) -> nn.Module:
    """Build the model `ref` names (see the module docstring) for the data's number of
    classes and input shape (C, H, W). `options` are the constructor's keyword arguments
    (`--opt key=value`); num_classes / in_channels are filled in where it takes them."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if in_channels is None and input_shape is not None:
        in_channels = input_shape[0]
    kind = kind_of(ref)
    if kind == "registry":
        return _from_registry(str(ref), num_classes, in_channels, input_shape, options)
    if kind == "spec":
        if options:
            raise SpecError("--opt does not apply to a layer spec: its numbers are in the spec itself")
        return from_spec(str(ref), input_shape)
    if kind == "file":
        return from_file(str(ref).strip(), num_classes, in_channels, options)
    return from_python(ref, num_classes, in_channels, options)


# ----------------------------------------------------------------------------- registered names


def _from_registry(name, num_classes, in_channels, input_shape, options) -> nn.Module:
    from cnnkit.registry import create_for_input, create_model, get_spec

    spec = get_spec(name)
    if input_shape is not None:
        model = create_for_input(name, tuple(input_shape), num_classes, **options)
    else:
        model = create_model(name, num_classes=num_classes, in_channels=in_channels, **options)
    source: dict[str, Any] = {"kind": "registry"}
    origin = _user_origin(spec.builder)
    if origin is not None:  # registered by the user's own file: keep that file, so the name rebuilds anywhere
        source["origin"] = origin
    model.cnnkit_config["source"] = source
    return model


def _user_origin(builder) -> Optional[dict]:
    """The file that registered `builder` when it is the user's (not cnnkit's, not an
    installed package's): a fresh process does not know the name until it runs it."""
    fn = getattr(builder, "__cnnkit_original__", builder)
    try:
        path = Path(inspect.getsourcefile(fn) or "")
    except TypeError:
        return None
    if not path.is_file() or "site-packages" in path.parts or path.resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        return None
    code = path.read_text(encoding="utf-8")
    return {"path": str(path.resolve()), "sha256": sha256_text(code), "code": code}


def option_names(ref: Any) -> set[str]:
    """The keyword options `ref` takes (`--opt`, a sweep's --vary keys): a registered model's
    options, a class's / builder's arguments other than num_classes and in_channels, none
    for a spec or a model object. Naming a file imports it."""
    kind = kind_of(ref)
    if kind == "registry":
        from cnnkit.registry import get_spec

        return set(get_spec(str(ref)).options())
    if kind == "spec" or isinstance(ref, nn.Module):
        return set()
    if kind == "file":
        path, name = split_file_ref(str(ref).strip())
        ref = lookup(load_file(path), path, name)
    params = [n for n, p in inspect.signature(ref).parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return set(params) - {"num_classes", "in_channels"}


# ----------------------------------------------------------------------------- rebuilding


def rebuild(entry: dict, run_dir: Optional[str | Path] = None, notes: Optional[list] = None,
            model: Any = None) -> nn.Module:
    """`_rebuild`, with the entry on the result (`cnnkit_config`), so a resumed run's
    checkpoints say the same as the first ones."""
    import copy

    built = _rebuild(entry, run_dir, notes, model)
    if model is None or not isinstance(getattr(built, "cnnkit_config", None), dict):
        built.cnnkit_config = copy.deepcopy({k: entry[k] for k in ("name", "kwargs", "source") if k in entry})
    return built


def _rebuild(entry: dict, run_dir: Optional[str | Path] = None, notes: Optional[list] = None,
             model: Any = None) -> nn.Module:
    """The model a checkpoint's `model` entry describes, with fresh weights.

    `model` (a class, a builder or an instance, as `cnnkit.load(ckpt, model=MyNet)`
    takes it) overrides what the entry names. `notes` collects one-line remarks (which
    copy of a changed file is used)."""
    notes = notes if notes is not None else []
    kwargs = dict(entry.get("kwargs") or {})
    source = entry.get("source") or {"kind": "registry"}
    kind = source.get("kind")
    if model is not None:
        if isinstance(model, nn.Module):
            return model
        built, _ = construct(model, None, None, kwargs, where=python_where(model))
        return built
    if kind == "registry":
        from cnnkit.registry import UnknownModelError, create_model, get_spec

        name = entry["name"]
        try:
            get_spec(name)  # the built-in and installed names
        except UnknownModelError:
            origin = source.get("origin")
            if not origin:
                raise
            run_kept(Path(origin["path"]), origin["code"], origin.get("sha256"), notes, run_dir, cached=False)  # registers it
        if kwargs.get("pretrained"):
            kwargs["pretrained"] = False  # the trained weights are in the checkpoint; no download
        return create_model(name, **kwargs)
    if kind == "spec":
        built = from_spec(source["spec"], None)
        return built
    if kind == "file":
        path, name = Path(source["path"]), source["object"]
        module = run_kept(path, source.get("code"), source.get("sha256"), notes, run_dir)
        obj = lookup(module, path, name)
        built, _ = construct(obj, None, None, kwargs, where=file_where(path, name, source.get("code")))
        return built
    if kind == "python":
        if source.get("rebuilds") is False:
            raise CnnkitError(f"this checkpoint holds a {entry['name']} object built with arguments cnnkit could not tell; "
                              f"load it with cnnkit.load(ckpt, model={entry['name']}(...)) built as you trained it, "
                              f"or train the class itself (cnnkit.train({entry['name']}, model_options={{...}}))")
        obj = python_object(entry, source)
        built, _ = construct(obj, None, None, kwargs, where=python_where(obj))
        return built
    raise CnnkitError(f"the checkpoint's model entry has an unknown source kind {kind!r}; upgrade cnnkit")


def where_defined(model: nn.Module) -> str:
    """'my_net.py:12' for a network from the user's file (the line of its class or builder),
    'the layer spec', or the class's file and line / name: where to go and change it."""
    config = getattr(model, "cnnkit_config", None) or {}
    source = config.get("source", {})
    kind = source.get("kind")
    if kind == "spec":
        return "the layer spec"
    if kind == "file":
        obj = str(source.get("object", "")).split(".")[-1]
        m = re.search(rf"^[ \t]*(?:class|def)[ \t]+{re.escape(obj)}\b", source.get("code") or "", re.M)
        line = f":{(source.get('code') or '')[:m.start()].count(chr(10)) + 1}" if m else ""
        return f"{Path(source['path']).name}{line}"
    cls = type(model)
    if not cls.__module__.startswith("torch."):
        return python_where(cls)
    return config.get("name", cls.__name__)


def check_output(model: nn.Module, input_shape: tuple, task: str, num_classes: int, data: str = "the data") -> None:
    """One forward pass on a (2, C, H, W) zero batch (eval mode, no gradients): the output a
    `task` with `num_classes` classes needs, else one line naming the file and line of the
    network and what to change. Their forward crashing is reported at its line."""
    import torch

    from cnnkit.arith.parse import format_sizes
    from cnnkit.scratch.loader import crash_site

    where = where_defined(model)
    name = (getattr(model, "cnnkit_config", None) or {}).get("name", type(model).__name__)
    shape = tuple(input_shape)
    was_training = model.training
    try:
        with torch.no_grad():
            y = model.eval()(torch.zeros(2, *shape))
    except Exception as e:  # their forward raised
        source = (getattr(model, "cnnkit_config", None) or {}).get("source", {})
        folder = Path(source["path"]).resolve().parent if source.get("kind") == "file" else folder_of(type(model))
        raise ModelCodeError(f"{name} ({where}) cannot run on {data}'s {format_sizes(shape)} images: "
                             f"{crash_site(e, folder)}") from None
    finally:
        model.train(was_training)
    if not isinstance(y, torch.Tensor):
        raise ModelCodeError(f"{name} ({where}) returns a {type(y).__name__} from forward; return one tensor of logits "
                             f"(N, {num_classes}{'' if task == 'classification' else ', H, W'})")
    got = tuple(y.shape[1:])
    takes = "num_classes" in config_kwargs(model) or "num_classes" in parameters(type(model))
    fix = "" if takes or where == "the layer spec" else "; or give its constructor a num_classes argument, which cnnkit fills from the data"
    if task == "classification":
        if got != (num_classes,):
            what = f"{got[0]} outputs per image" if len(got) == 1 else f"outputs of shape {format_sizes(got)} per image"
            end = f"end the spec with 'linear {num_classes}'" if where == "the layer spec" else f"make its last layer output {num_classes} values"
            if len(got) == 3:
                end += " (a segmentation network? train it on segmentation data such as shapes-seg)"
            raise ModelCodeError(f"{name} ({where}) gives {what}, but {data} has {num_classes} classes: {end}{fix}")
    else:
        want = (num_classes, *shape[1:])
        if got != want:
            what = f"{got[0]} outputs per image (a classification network)" if len(got) == 1 else f"output {format_sizes(got)}"
            raise ModelCodeError(f"{name} ({where}) gives {what}, but segmentation of {data} needs {format_sizes(want)} "
                                 f"(one score map per class, at the input's size)"
                                 + (f": end the spec with 'conv {num_classes} k1'" if where == "the layer spec" else fix))


def config_kwargs(model: nn.Module) -> dict:
    return (getattr(model, "cnnkit_config", None) or {}).get("kwargs") or {}


def layer_hints(entry: dict) -> tuple[Optional[str], Optional[str]]:
    """(first conv, Grad-CAM layer) a registered model names; (None, None) for others, where
    the figures find the first conv and the last map larger than 1x1 themselves."""
    source = entry.get("source") or {"kind": "registry"}
    if source.get("kind") != "registry":
        return None, None
    from cnnkit.registry import get_spec

    spec = get_spec(entry["name"])
    return spec.first_conv, spec.gradcam_layer


def registered_task(entry: dict) -> Optional[str]:
    """The task a registered model is for; None for other models (their task is the data's)."""
    source = entry.get("source") or {"kind": "registry"}
    if source.get("kind") != "registry":
        return None
    from cnnkit.registry import get_spec

    return get_spec(entry["name"]).task


def first_conv(model: nn.Module, preferred: Optional[str] = None) -> str:
    """`preferred` when it names a conv, else the first nn.Conv* module in named_modules() order."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if preferred and preferred in convs:
        return preferred
    if not convs:
        raise CnnkitError("this model has no convolution layer, so it has no filters to draw")
    return convs[0]
