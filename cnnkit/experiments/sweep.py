"""Sweeps: a grid of variants x trials, run one after another, resumable.

    SWEEP/sweep.json                        the plan: variants, their settings, run dirs
    SWEEP/<variant>/trial-<k>/...           an ordinary run directory per trial

Variants come from --vary axes (every combination), from a TOML file's [vary] grid
and [[variant]] list (each listed variant crossed with the grid), or both.
A finished run (summary.json present) is skipped when the sweep is run again; an
interrupted one (last.pt, no summary.json) is resumed; the rest start fresh.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional

from cnnkit.engine.config import TrainConfig
from cnnkit.engine.rundir import RunDir
from cnnkit.errors import CnnkitError

TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"model", "dataset", "out", "seed", "model_options"}
FILE_KEYS = ("model", "dataset", "trials", "out", "train", "vary", "variant")


def literal(text: str):
    """'true' -> True, '3' -> 3, '(8,16)' -> (8, 16), 'sgd' -> 'sgd'."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_vary(items: list[str], model_options: set[str]) -> list[tuple[str, list]]:
    """['optimizer=sgd,adam', 'batchnorm=true,false'] -> [('optimizer', ['sgd', 'adam']), ...].

    A key is a training option (lr, optimizer, ...) or a model option of MODEL."""
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not values.strip():
            raise CnnkitError(f"--vary {item!r} must look like key=v1,v2 e.g. --vary optimizer=sgd,adam")
        check_key(key, model_options, "--vary")
        # split on commas outside brackets, so widths=(8,16),(16,32) gives two values
        parts = [p.strip() for p in re.split(r",(?![^()\[\]]*[)\]])", values) if p.strip()]
        axes.append((key, [literal(p) for p in parts]))
    return axes


def check_key(key: str, model_options: set[str], where: str) -> None:
    if key not in TRAIN_FIELDS and key not in model_options:
        raise CnnkitError(f"{where} {key}: not a training option or an option of this model "
                          f"(model options: {', '.join(sorted(model_options)) or 'none'})")


def variant_name(settings: dict) -> str:
    """{'optimizer': 'sgd', 'widths': (8, 16)} -> 'optimizer-sgd_widths-8x16' (a folder name)."""
    fmt = lambda v: "x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
    return folder_name("_".join(f"{k}-{fmt(v)}" for k, v in settings.items()) or "base")


def folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "", text.replace(" ", "-"))


def grid(axes: list[tuple[str, list]]) -> list[dict]:
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*[v for _, v in axes])] or [{}]


def plan(axes: list[tuple[str, list]], listed: Optional[list[dict]] = None) -> list[tuple[str, dict]]:
    """(name, settings) per variant: each listed variant (default: one empty one) crossed
    with every combination of the axes. A listed variant's 'name' prefixes its folder."""
    out = []
    for item in listed or [{}]:
        given = item.get("name")
        own = {k: v for k, v in item.items() if k != "name"}
        for combo in grid(axes):
            settings = {**own, **combo}
            if given:
                name = folder_name(str(given)) + (f"_{variant_name(combo)}" if combo else "")
            else:
                name = variant_name(settings)
            out.append((name, settings))
    names = [n for n, _ in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CnnkitError(f"two variants would share the folder {twice[0]!r}; give the listed variants distinct names")
    return out


def load_sweep_file(path: str | Path) -> dict:
    """A TOML sweep description -> {'model', 'dataset', 'trials', 'out', 'train': {...},
    'vary': [(key, [values])], 'variants': [{...}]} (absent keys left out). See docs/experiments.md."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = Path(path)
    if path.is_dir():
        raise CnnkitError(f"sweep file {path} is a folder; give a TOML file")
    if not path.is_file():
        raise CnnkitError(f"sweep file {path} does not exist; check the path")
    try:
        data = tomllib.loads(path.read_text())
    except UnicodeDecodeError:
        raise CnnkitError(f"sweep file {path} is not a text file; give a TOML file (see docs/experiments.md)") from None
    except tomllib.TOMLDecodeError as e:
        raise CnnkitError(f"sweep file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise CnnkitError(f"sweep file {path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(FILE_KEYS)}")
    out = {k: data[k] for k in ("model", "dataset", "trials", "out") if k in data}
    train = dict(data.get("train", {}))
    if not isinstance(data.get("train", {}), dict) or not isinstance(data.get("vary", {}), dict):
        raise CnnkitError(f"sweep file {path}: [train] and [vary] must be tables")
    options = train.pop("opt", {}) | train.pop("model_options", {})
    train = {k.replace("-", "_"): v for k, v in train.items()}
    for key in train:
        if key not in TRAIN_FIELDS and key != "seed":
            raise CnnkitError(f"sweep file {path}: [train] {key} is not a `cnnkit train` option")
    if options:
        train["model_options"] = options
    out["train"] = normalise_train_options(train)
    vary = []
    for key, values in data.get("vary", {}).items():
        if not isinstance(values, list) or not values:
            raise CnnkitError(f"sweep file {path}: [vary] {key} must be a non-empty list, e.g. {key} = [1, 2]")
        vary.append((key.replace("-", "_"), values))
    out["vary"] = vary
    listed = data.get("variant", [])
    if not isinstance(listed, list) or not all(isinstance(v, dict) for v in listed):
        raise CnnkitError(f"sweep file {path}: variants are [[variant]] tables")
    out["variants"] = [{k.replace("-", "_"): v for k, v in item.items()} for item in listed]
    return out


def normalise_train_options(options: dict) -> dict:
    """Sizes given as one number mean square: image_size = 64 -> [64, 64]."""
    for key in ("image_size", "crop"):
        if isinstance(options.get(key), int):
            options[key] = [options[key], options[key]]
    return options


def run_sweep(model: str, dataset: str, base: dict, vary: list[str], trials: int, out: str | Path, progress=None,
              axes: Optional[list[tuple[str, list]]] = None, listed: Optional[list[dict]] = None,
              overwrite: bool = False) -> dict:
    """Train every variant x trial not finished yet. `vary` are --vary strings; `axes`
    and `listed` come already parsed from a sweep file.

    A sweep directory belongs to one set of settings: running it again with others
    (another dataset, lr, grid ...) is refused, naming what differs, before anything is
    trained or written; `overwrite` clears the old sweep's files first."""
    from cnnkit.engine.distributed import from_env, on_main
    from cnnkit.engine.train import make_config, resume_config, train
    from cnnkit.registry import get_spec, resolve_kwargs

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise CnnkitError(f"--trials must be a whole number, at least 1 (got {trials!r})")
    out = Path(out)
    model_options = set(get_spec(model).options())
    for key, _ in axes or []:
        check_key(key, model_options, "vary")
    axes = list(axes or []) + parse_vary(vary, model_options)
    for item in listed or []:
        for key in item:
            if key != "name":
                check_key(key, model_options, "variant")
    base_config, ds = make_config(model, dataset, dict(base))
    variants = [{"name": name, "settings": settings, "runs": [str(out / name / f"trial-{k + 1}") for k in range(trials)]}
                for name, settings in plan(axes, listed)]
    sweep = {"model": model, "dataset": dataset, "trials": trials, "vary": [[k, v] for k, v in axes], "variants": variants,
             "base": {k: v for k, v in base.items() if k != "out"}}
    configs = {run: _run_config(base_config, v["settings"], k, run) for v in variants for k, run in enumerate(v["runs"])}
    for config in configs.values():  # every variant is checked before the first one trains
        config.validate()
        resolve_kwargs(model, **config.model_options)
    d = from_env()
    lock = RunDir(out)
    on_main(d, lambda: _claim(lock, sweep, configs, overwrite))
    try:
        # Written before the first run, so compare and report work on a sweep still running or
        # interrupted (by rank 0 alone when the sweep runs under torchrun).
        if d.is_main:
            RunDir(out).write_json("sweep.json", sweep)
        quiet = progress or (lambda *a, **kw: None)
        for variant in variants:
            for k, run in enumerate(map(Path, variant["runs"])):
                if (run / "summary.json").exists():
                    if progress:
                        progress("skip", run_dir=run)
                    continue
                if progress:
                    progress("trial", trial=k + 1, trials=trials, seed=base_config.seed + k, variant=variant["name"])
                if (run / "last.pt").exists() and (run / "config.json").exists():
                    train(resume_config(run, configs[str(run)].epochs), ds, quiet, resume=True)
                    continue
                train(configs[str(run)], ds, quiet, overwrite=True)
    finally:
        if d.is_main:
            lock.release()
    return sweep


def _run_config(base_config: TrainConfig, settings: dict, k: int, run: str) -> TrainConfig:
    """The config of trial k of a variant: the base, the variant's training and model options, seed + k."""
    train_opts = {key: v for key, v in settings.items() if key in TRAIN_FIELDS}
    model_opts = {key: v for key, v in settings.items() if key not in TRAIN_FIELDS}
    values = dict(base_config.to_dict(), **train_opts, seed=base_config.seed + k, out=run)
    values["model_options"] = dict(base_config.model_options, **model_opts)
    return TrainConfig.from_dict(values)


def _claim(lock: RunDir, sweep: dict, configs: dict, overwrite: bool) -> None:
    """Lock the sweep folder, and make sure what is already in it belongs to this sweep."""
    from cnnkit.engine.config import NOT_DEFINING
    from cnnkit.engine.rundir import clear_owned, differences

    lock.acquire()
    try:
        try:
            old = _old_sweep(lock.path)
        except CnnkitError:
            if not overwrite:
                raise
            old = None  # a damaged sweep.json: --overwrite clears what can still be recognised
        if overwrite:
            for v in (old or {}).get("variants", []):
                for run in v.get("runs", []):
                    clear_owned(Path(run))
                    _remove_empty(Path(run))
                _remove_empty(lock.path / str(v.get("name", "")))
            clear_owned(lock.path)
            return
        changed = []
        if old is not None:
            keys = ("model", "dataset", "base", "vary", "variants")
            recorded = {k: old.get(k) for k in keys}
            recorded["variants"] = [v.get("settings") for v in old.get("variants", [])]
            wanted = {k: sweep[k] for k in keys}
            wanted["variants"] = [v["settings"] for v in sweep["variants"]]
            changed = differences(recorded, wanted, keys)
        for run, config in configs.items():
            f = Path(run) / "config.json"
            if not changed and f.exists():
                try:
                    have = json.loads(f.read_text())
                except (OSError, json.JSONDecodeError):
                    raise CnnkitError(f"{f} is unreadable; pass --overwrite to start the sweep afresh") from None
                keys = sorted((set(have) | set(config.to_dict())) - NOT_DEFINING - {"epochs"})
                diff = differences(have, config.to_dict(), keys)
                if have.get("epochs") != config.epochs and (Path(run) / "summary.json").exists():
                    diff.append(f"epochs {have.get('epochs')} -> {config.epochs}")
                if diff:
                    changed = [f"{Path(run).relative_to(lock.path)}: " + "; ".join(diff)]
        if changed:
            raise CnnkitError(f"{lock.path} holds a sweep with other settings ({'; '.join(changed[:4])}); "
                              "re-run it with the same settings to continue it, choose another --out, "
                              "or pass --overwrite to delete its runs and start afresh")
    except BaseException:
        lock.release()
        raise


def _old_sweep(path: Path) -> Optional[dict]:
    f = path / "sweep.json"
    if not f.exists():
        return None
    try:
        data = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise CnnkitError(f"{f} is corrupt; pass --overwrite to start the sweep afresh, or choose another --out") from None
    if not isinstance(data, dict):
        raise CnnkitError(f"{f} is not a cnnkit sweep file; pass --overwrite to start afresh, or choose another --out")
    return data


def _remove_empty(path: Path) -> None:
    try:
        (path / ".cnnkit.lock").unlink(missing_ok=True)
        path.rmdir()
    except OSError:
        pass  # not empty (a user's file) or already gone
