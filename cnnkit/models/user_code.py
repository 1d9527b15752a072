"""A model in the user's own code: a class or builder in a PATH.py file (its top level runs,
like any import), or a Python object (a notebook's class too). Constructing it with the
data's num_classes / in_channels, every failure one line naming the file and line, and
what rebuilds it later: the source text and its sha256, the kept copy of a run."""

from __future__ import annotations

import hashlib
import inspect
import re
from pathlib import Path
from typing import Any, Optional

import torch.nn as nn

from cnnkit.errors import CnnkitError, SpecError

# PATH.py:NAME (a Windows drive letter's colon comes before the .py)
FILE_REF = re.compile(r"^(?P<path>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_.]*)$")
SOURCE_COPY = "model-source.py"  # the run directory's copy of a model file (rundir.OWNED_NAMES)


class ModelCodeError(CnnkitError):
    """The user's model code cannot be loaded or built (exit 2: bad input, one line)."""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_file_ref(ref: str) -> tuple[Path, str]:
    m = FILE_REF.match(ref)
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


def lookup(module, path: Path, name: str):
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
    found = [n for n, v in vars(module).items() if not n.startswith("_") and is_model_maker(v)
             and getattr(v, "__module__", None) == module.__name__]
    hint = f"it defines {', '.join(found)}" if found else "it defines no nn.Module class or function"
    raise ModelCodeError(f"{path.name} has no {name!r}; {hint}; give PATH.py:NAME with one of those")


def is_model_maker(v) -> bool:
    return (isinstance(v, type) and issubclass(v, nn.Module)) or inspect.isfunction(v)


def from_file(ref: str, num_classes, in_channels, options) -> nn.Module:
    path, name = split_file_ref(ref)
    code = _read_source(path)
    module = load_file(path)
    obj = lookup(module, path, name)
    model, kwargs = construct(obj, num_classes, in_channels, options, where=file_where(path, name, code))
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


def from_python(obj, num_classes, in_channels, options) -> nn.Module:
    if isinstance(obj, nn.Module):
        if options:
            raise SpecError("options apply to a class or a builder function, not to a model object; "
                            "pass the class (MyNet) with its options, or build it yourself")
        model, maker = obj, type(obj)
        kwargs = _matching_kwargs(maker, obj, num_classes, in_channels)
    elif is_model_maker(obj) or callable(obj):
        model, kwargs = construct(obj, num_classes, in_channels, options, where=python_where(obj))
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
    params = parameters(cls)
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


def python_where(obj) -> str:
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


def file_where(path: Path, name: str, code: Optional[str]) -> str:
    """'my_net.py:12 (Net1)': the line of `class Net1` / `def Net1` in the file's text, else 'my_net.py:Net1'."""
    last = name.split(".")[-1]
    m = re.search(rf"^[ \t]*(?:class|def)[ \t]+{re.escape(last)}\b", code or "", re.M)
    return f"{path.name}:{(code or '')[:m.start()].count(chr(10)) + 1} ({name})" if m else f"{path.name}:{name}"


def construct(obj, num_classes, in_channels, options, where: str) -> tuple[nn.Module, dict]:
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

        raise ModelCodeError(f"building {where} failed: {crash_site(e, folder_of(obj))}") from None
    if not isinstance(model, nn.Module):
        raise ModelCodeError(f"{where} returned a {type(model).__name__}, not an nn.Module; "
                             "return the network (e.g. nn.Sequential(...)) from it")
    return model, kwargs


def folder_of(obj) -> Optional[Path]:
    try:
        return Path(inspect.getsourcefile(obj)).resolve().parent
    except TypeError:
        return None


def run_kept(path: Path, code: Optional[str], sha: Optional[str], notes: list, run_dir, cached: bool = True) -> Any:
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


def python_object(entry: dict, source: dict):
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


def parameters(cls) -> set:
    try:
        return set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return set()
