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
"""

from __future__ import annotations

import hashlib
import inspect
import re
from pathlib import Path
from typing import Any, Optional

import torch.nn as nn

from cnnkit.errors import CnnkitError, SpecError

# PATH.py:NAME (a Windows drive letter's colon comes before the .py)
_FILE_REF = re.compile(r"^(?P<path>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_.]*)$")
SOURCE_COPY = "model-source.py"  # the run directory's copy of a model file (rundir.OWNED_NAMES)


class ModelCodeError(CnnkitError):
    """The user's model code cannot be loaded or built (exit 2: bad input, one line)."""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def kind_of(ref: Any) -> str:
    """"registry", "file", "spec" or "python": which form `ref` is."""
    if isinstance(ref, Path):
        ref = str(ref)
    if not isinstance(ref, str):
        return "python"
    if "|" in ref:
        return "spec"
    if _FILE_REF.match(ref.strip()) or ref.strip().endswith(".py"):
        return "file"
    return "registry"


def display_name(ref: Any) -> str:
    """A short name for run folders and tables: the registered name, the file's object
    name, 'spec-<hash>' for a spec, the class name of a Python object."""
    kind = kind_of(ref)
    if kind == "registry":
        return str(ref)
    if kind == "file":
        m = _FILE_REF.match(str(ref).strip())
        return m.group("name").split(".")[-1] if m else Path(str(ref)).stem
    if kind == "spec":
        return f"spec-{sha256_text(_normal_spec(str(ref)))[:8]}"
    obj = ref if isinstance(ref, type) or inspect.isfunction(ref) else type(ref)
    return getattr(obj, "__name__", type(ref).__name__)


def model_label(ref: Any) -> str:
    """The model as config.json and summary.json record it: the registered name, PATH.py:NAME
    as given, the spec string, or a Python object's name."""
    kind = kind_of(ref)
    if kind == "spec":
        return _normal_spec(str(ref))
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
        return _from_spec(str(ref), input_shape)
    if kind == "file":
        return _from_file(str(ref).strip(), num_classes, in_channels, options)
    return _from_python(ref, num_classes, in_channels, options)


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


# ----------------------------------------------------------------------------- layer specs


def _normal_spec(spec: str) -> str:
    return " | ".join(" ".join(seg.split()) for seg in spec.split("|"))


def _from_spec(spec: str, input_shape) -> nn.Module:
    """The modules `cnnkit layers` prints for each row (its `module` column is the one
    translation of the grammar into PyTorch), in an nn.Sequential, checked row by row
    against the shapes the arithmetic computed."""
    import torch

    from cnnkit.arith.parse import format_sizes
    from cnnkit.arith.spec import analyse

    spec = _normal_spec(spec)
    report = analyse(spec)
    if input_shape is not None and tuple(input_shape) != tuple(report.input_shape):
        raise SpecError(f"the spec's input is {format_sizes(report.input_shape)} but the data's images are "
                        f"{format_sizes(tuple(input_shape))}; start the spec with {format_sizes(tuple(input_shape))}")
    layers = []
    for row in report.rows:
        module = _module_of(row)
        layers.append(module)
    model = nn.Sequential(*layers)
    # One real forward pass: the built modules must give exactly the shapes `cnnkit layers` printed.
    with torch.no_grad():
        x = torch.zeros(1, *report.input_shape)
        model.eval()
        for i, (row, layer) in enumerate(zip(report.rows, model), start=1):
            x = layer(x)
            if tuple(x.shape[1:]) != tuple(row.output_shape):
                raise SpecError(f"layer {i} ({row.layer.text!r}) gives {format_sizes(tuple(x.shape[1:]))} in PyTorch but "
                                f"{format_sizes(row.output_shape)} by the arithmetic; change its padding")
        model.train()
    model.cnnkit_config = {"name": display_name(spec), "kwargs": {},
                           "source": {"kind": "spec", "spec": spec}}
    return model


def _module_of(row) -> nn.Module:
    """nn.<row.module>: the string `cnnkit layers` prints (e.g. "Conv2d(3, 32, kernel_size=5,
    padding=2)"), evaluated with only torch.nn's classes in scope. It is made by
    cnnkit.arith.spec from parsed numbers, never from the user's text. Padding PyTorch
    cannot put inside the conv (asymmetric) comes first as a zero pad."""
    namespace = {"__builtins__": {}, **{k: getattr(nn, k) for k in dir(nn) if k[:1].isupper()}}
    module = eval(row.module, namespace)  # noqa: S307 - cnnkit's own generated text
    pads = [(g.p_before, g.p_after) for g in row.geoms]
    if row.layer.kind in ("conv", "convT") and row.layer.padding != "same" and any(b != a for b, a in pads):
        flat = tuple(v for b, a in reversed(pads) for v in (b, a))  # last axis first, as F.pad takes them
        return nn.Sequential(nn.ConstantPad2d(flat, 0.0) if len(pads) == 2 else getattr(nn, f"ConstantPad{len(pads)}d")(flat, 0.0), module)
    return module


# ----------------------------------------------------------------------------- files and Python objects


def _split_file_ref(ref: str) -> tuple[Path, str]:
    m = _FILE_REF.match(ref)
    if not m:
        raise ModelCodeError(f"{ref}: name the network in the file as PATH.py:NAME, e.g. {ref}:Net1 "
                             "(NAME: an nn.Module class or a function returning one)")
    return Path(m.group("path")), m.group("name")


_LOADED: dict[tuple[str, str], Any] = {}  # (file, sha256 of its text) -> module: a file's top level runs once per process


def load_file(path: Path, code: Optional[str] = None, folder: Optional[Path] = None, cached: bool = True):
    """Import the user's model file (this runs its top level); `code` instead of the file
    on disk (a run's kept copy), under the original name. The same text is imported once
    per process (training builds the network twice: to plan the run, then to train it)."""
    from cnnkit.scratch.loader import load_impl, load_source

    if code is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
    else:
        text = code
    key = (str(path.resolve()), sha256_text(text)) if text is not None else None
    if cached and key in _LOADED:
        return _LOADED[key]
    if code is not None:
        module = load_source(code, path, folder)
    else:
        module = load_impl(path, flag="model file", wants="defining your network (an nn.Module class or a function returning one)")
    if key is not None:
        _LOADED[key] = module
    return module


def _lookup(module, path: Path, name: str):
    """module.NAME (dotted names allowed), else a name the file registered."""
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if obj is not None:
        return obj
    from cnnkit.registry import _REGISTRY

    spec = _REGISTRY.get(name)
    if spec is not None:
        return getattr(spec.builder, "__cnnkit_original__", spec.builder)
    found = [n for n, v in vars(module).items() if not n.startswith("_") and _is_model_maker(v)
             and getattr(v, "__module__", None) == module.__name__]
    hint = f"it defines {', '.join(found)}" if found else "it defines no nn.Module class or function"
    raise ModelCodeError(f"{path.name} has no {name!r}; {hint}; give PATH.py:NAME with one of those")


def _is_model_maker(v) -> bool:
    return (isinstance(v, type) and issubclass(v, nn.Module)) or inspect.isfunction(v)


def _from_file(ref: str, num_classes, in_channels, options) -> nn.Module:
    path, name = _split_file_ref(ref)
    code = _read_source(path)
    module = load_file(path)
    obj = _lookup(module, path, name)
    model, kwargs = _construct(obj, num_classes, in_channels, options, where=_file_where(path, name, code))
    model.cnnkit_config = {"name": name.split(".")[-1], "kwargs": kwargs,
                           "source": {"kind": "file", "path": str(path.resolve()), "object": name,
                                      "sha256": sha256_text(code), "code": code}}
    return model


def _read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        from cnnkit.scratch.loader import load_impl

        load_impl(path, flag="model file", wants="defining your network")  # its one-line error
        raise


def _from_python(obj, num_classes, in_channels, options) -> nn.Module:
    if isinstance(obj, nn.Module):
        if options:
            raise SpecError("options apply to a class or a builder function, not to a model object; "
                            "pass the class (MyNet) with its options, or build it yourself")
        model, maker = obj, type(obj)
        kwargs = _matching_kwargs(maker, obj, num_classes, in_channels)
    elif _is_model_maker(obj) or callable(obj):
        model, kwargs = _construct(obj, num_classes, in_channels, options, where=_python_where(obj))
        maker = obj
    else:
        raise SpecError(f"a model is a registered name, PATH.py:NAME, a layer spec, an nn.Module class, a function "
                        f"returning one, or a model object; got {type(obj).__name__}")
    config = getattr(model, "cnnkit_config", None)
    if isinstance(config, dict) and "source" in config:  # already built by cnnkit (a registry name, a file)
        return model
    source = python_source(maker)
    if kwargs is None:  # an object whose constructor arguments cnnkit cannot tell
        kwargs, source["rebuilds"] = {}, False
    model.cnnkit_config = {"name": getattr(maker, "__name__", type(model).__name__), "kwargs": kwargs, "source": source}
    return model


def _matching_kwargs(cls, instance: nn.Module, num_classes, in_channels) -> Optional[dict]:
    """The constructor arguments that rebuild a model object given from Python: none, or
    num_classes / in_channels from the data where the class takes them, whichever gives
    the same weights' names and shapes (built on the meta device: no memory). None when
    neither does (it was built with other arguments)."""
    import torch

    want = {k: tuple(v.shape) for k, v in instance.state_dict().items()}
    params = _parameters(cls)
    fill = {k: v for k, v in (("num_classes", num_classes), ("in_channels", in_channels)) if v is not None and k in params}
    for kwargs in ({}, fill, *({k: v} for k, v in fill.items())):
        try:
            with torch.device("meta"):
                candidate = cls(**kwargs)
        except Exception:  # needs arguments cnnkit does not have
            continue
        if {k: tuple(v.shape) for k, v in candidate.state_dict().items()} == want:
            return dict(kwargs)
    return None


def _python_where(obj) -> str:
    try:
        file, line = inspect.getsourcefile(obj), inspect.getsourcelines(obj)[1]
        return f"{Path(file).name}:{line} ({obj.__name__})"
    except (TypeError, OSError):
        return getattr(obj, "__name__", repr(obj))


def python_source(maker) -> dict:
    """What rebuilds a class or function defined in Python: its module and name when that
    module can be imported again, and its source text (via inspect, as a notebook cell
    allows), with the modules its code refers to (`nn`, `F`, `torch`, ...)."""
    module = getattr(maker, "__module__", None)
    entry: dict[str, Any] = {"kind": "python", "module": module, "object": getattr(maker, "__qualname__", None)}
    try:
        code = inspect.getsource(maker)
    except (OSError, TypeError):
        code = _class_source_from_methods(maker)
    if code is not None:
        import textwrap

        code = textwrap.dedent(code)
        entry.update(code=code, sha256=sha256_text(code), imports=_imported_modules(maker))
    return entry


def _class_source_from_methods(cls) -> Optional[str]:
    """A class's source where inspect cannot find its file (a Jupyter cell on Python < 3.13:
    `__main__` has no file) but its methods' code names a cell that linecache holds: the
    `class NAME` line above the first method, down to where the indentation ends."""
    import linecache

    if not isinstance(cls, type):
        return None
    methods = [v.__code__ for v in vars(cls).values() if inspect.isfunction(v)]
    if not methods:
        return None
    first = min(methods, key=lambda c: c.co_firstlineno)
    lines = linecache.getlines(first.co_filename)
    start = next((i for i in range(min(first.co_firstlineno, len(lines)) - 1, -1, -1)
                  if re.match(rf"\s*class\s+{re.escape(cls.__name__)}\b", lines[i])), None)
    if start is None:
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    while start > 0 and lines[start - 1].lstrip().startswith("@"):  # decorators belong to it
        start -= 1
    return "".join(lines[start:end])


def _imported_modules(maker) -> dict[str, str]:
    """{global name: module name} for the modules the class's / function's code uses
    (import torch.nn as nn -> {"nn": "torch.nn"}), so its source runs again on its own."""
    import types

    functions = [maker] if inspect.isfunction(maker) else [v for v in vars(maker).values() if inspect.isfunction(v)]
    globals_ = getattr(functions[0], "__globals__", {}) if functions else {}
    names: set[str] = set()
    for fn in functions:
        stack = [fn.__code__]
        while stack:
            code = stack.pop()
            names.update(code.co_names)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return {n: globals_[n].__name__ for n in sorted(names) if isinstance(globals_.get(n), types.ModuleType)}


def _file_where(path: Path, name: str, code: Optional[str]) -> str:
    """'my_net.py:12 (Net1)': the line of `class Net1` / `def Net1` in the file's text, else 'my_net.py:Net1'."""
    last = name.split(".")[-1]
    m = re.search(rf"^[ \t]*(?:class|def)[ \t]+{re.escape(last)}\b", code or "", re.M)
    return f"{path.name}:{(code or '')[:m.start()].count(chr(10)) + 1} ({name})" if m else f"{path.name}:{name}"


def _construct(obj, num_classes, in_channels, options, where: str) -> tuple[nn.Module, dict]:
    """Call a class or builder with `options` plus num_classes / in_channels where its
    signature takes them; every failure is one line naming the file and line."""
    if not callable(obj):
        raise ModelCodeError(f"{where} is a {type(obj).__name__}, not an nn.Module class or a function returning one")
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ModelCodeError(f"{where}: {obj.__name__} is a plain class, not an nn.Module; write "
                             f"`class {obj.__name__}(nn.Module):` and call super().__init__() in its __init__")
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        sig = None
    kwargs = dict(options)
    if sig is not None:
        params = sig.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if value is not None and key not in kwargs and key in params:
                kwargs[key] = value
        unknown = [k for k in kwargs if k not in params] if not takes_any else []
        if unknown:
            names = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise ModelCodeError(f"{where} takes no argument {', '.join(unknown)}; its arguments are: "
                                 f"{', '.join(names) or 'none'}")
        missing = [n for n, p in params.items() if p.default is p.empty and n not in kwargs
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if missing:
            raise ModelCodeError(f"{where} needs {', '.join(missing)}; give "
                                 f"{' '.join(f'--opt {m}=VALUE' for m in missing)} (from Python: options={{{missing[0]!r}: ...}}) "
                                 "or give the argument a default")
    try:
        model = obj(**kwargs)
    except CnnkitError:
        raise
    except Exception as e:  # their constructor raised: say where, in their code
        from cnnkit.scratch.loader import crash_site

        raise ModelCodeError(f"building {where} failed: {crash_site(e, _folder_of(obj))}") from None
    if not isinstance(model, nn.Module):
        raise ModelCodeError(f"{where} returned a {type(model).__name__}, not an nn.Module; "
                             "return the network (e.g. nn.Sequential(...)) from it")
    return model, kwargs


def _folder_of(obj) -> Optional[Path]:
    try:
        return Path(inspect.getsourcefile(obj)).resolve().parent
    except TypeError:
        return None


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
        path, name = _split_file_ref(str(ref).strip())
        ref = _lookup(load_file(path), path, name)
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
        built, _ = _construct(model, None, None, kwargs, where=_python_where(model))
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
            _run_kept(Path(origin["path"]), origin["code"], origin.get("sha256"), notes, run_dir, cached=False)  # registers it
        if kwargs.get("pretrained"):
            kwargs["pretrained"] = False  # the trained weights are in the checkpoint; no download
        return create_model(name, **kwargs)
    if kind == "spec":
        built = _from_spec(source["spec"], None)
        return built
    if kind == "file":
        path, name = Path(source["path"]), source["object"]
        module = _run_kept(path, source.get("code"), source.get("sha256"), notes, run_dir)
        obj = _lookup(module, path, name)
        built, _ = _construct(obj, None, None, kwargs, where=_file_where(path, name, source.get("code")))
        return built
    if kind == "python":
        if source.get("rebuilds") is False:
            raise CnnkitError(f"this checkpoint holds a {entry['name']} object built with arguments cnnkit could not tell; "
                              f"load it with cnnkit.load(ckpt, model={entry['name']}(...)) built as you trained it, "
                              f"or train the class itself (cnnkit.train({entry['name']}, model_options={{...}}))")
        obj = _python_object(entry, source)
        built, _ = _construct(obj, None, None, kwargs, where=_python_where(obj))
        return built
    raise CnnkitError(f"the checkpoint's model entry has an unknown source kind {kind!r}; upgrade cnnkit")


def _run_kept(path: Path, code: Optional[str], sha: Optional[str], notes: list, run_dir, cached: bool = True) -> Any:
    """Run the model file's source as it was when the model was trained: the text kept in
    the checkpoint (or the run directory's copy), not the file as it is now. One note
    when the file on disk has changed since."""
    if code is None and run_dir is not None and (Path(run_dir) / SOURCE_COPY).is_file():
        code = (Path(run_dir) / SOURCE_COPY).read_text(encoding="utf-8")
    if code is None:  # nothing kept: the file itself
        return load_file(path)
    if sha is not None and sha256_text(code) != sha:
        raise CnnkitError(f"the kept copy of {path.name} does not match the hash the checkpoint recorded; "
                          "the run directory was edited: restore it or re-train")
    if path.is_file():
        try:
            now = sha256_text(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            now = None
        if now != sha256_text(code):
            notes.append(f"using the copy of {path.name} kept with the run: the file's current hash differs "
                         f"({(now or 'unreadable')[:12]} now, {sha256_text(code)[:12]} when trained)")
    folder = path.resolve().parent if path.parent.is_dir() else (Path(run_dir) if run_dir else Path.cwd())
    return load_file(path, code, folder, cached)


def _python_object(entry: dict, source: dict):
    """A Python-defined class or function again: from its module when that is importable,
    else from its kept source text."""
    import importlib
    import sys

    module_name, qualname = source.get("module"), source.get("object") or entry["name"]
    if module_name and module_name != "__main__" and not module_name.startswith("cnnkit_student_"):
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            return obj
        except (ImportError, AttributeError):
            pass
    code = source.get("code")
    if code is not None:  # a class defined inside a function too, unless it uses its closure
        namespace: dict[str, Any] = {"__name__": "cnnkit_notebook_model"}
        try:
            for alias, mod in (source.get("imports") or {}).items():
                namespace[alias] = importlib.import_module(mod)
            exec(compile(code, f"<kept source of {qualname}>", "exec"), namespace)  # noqa: S102 - the user's own class
            return namespace[qualname.split(".")[-1]]
        except Exception:  # e.g. it uses a helper defined elsewhere in the notebook
            pass
    main = sys.modules.get("__main__")
    obj = getattr(main, qualname, None) if module_name == "__main__" else None
    if obj is not None:
        return obj
    raise CnnkitError(f"this checkpoint holds a {entry['name']} defined in Python whose code cnnkit could not keep or "
                      f"run again; load it with cnnkit.load(ckpt, model={entry['name']}) (the class or the function "
                      "that builds it)")


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
        return _python_where(cls)
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
        folder = Path(source["path"]).resolve().parent if source.get("kind") == "file" else _folder_of(type(model))
        raise ModelCodeError(f"{name} ({where}) cannot run on {data}'s {format_sizes(shape)} images: "
                             f"{crash_site(e, folder)}") from None
    finally:
        model.train(was_training)
    if not isinstance(y, torch.Tensor):
        raise ModelCodeError(f"{name} ({where}) returns a {type(y).__name__} from forward; return one tensor of logits "
                             f"(N, {num_classes}{'' if task == 'classification' else ', H, W'})")
    got = tuple(y.shape[1:])
    takes = "num_classes" in config_kwargs(model) or "num_classes" in _parameters(type(model))
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


def _parameters(cls) -> set:
    try:
        return set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return set()


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
