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
    if not path.is_file():
        raise CnnkitError(f"sweep file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
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
              axes: Optional[list[tuple[str, list]]] = None, listed: Optional[list[dict]] = None) -> dict:
    """Train every variant x trial not finished yet. `vary` are --vary strings; `axes`
    and `listed` come already parsed from a sweep file."""
    from cnnkit.engine.train import make_config, resume_config, train
    from cnnkit.registry import get_spec

    if trials < 1:
        raise CnnkitError("--trials must be at least 1")
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
    # Written before the first run, so compare and report work on a sweep still running or interrupted
    # (by rank 0 alone when the sweep runs under torchrun).
    from cnnkit.engine.distributed import from_env

    if from_env().is_main:
        out.mkdir(parents=True, exist_ok=True)
        RunDir(out).write_json("sweep.json", sweep)
    for variant in variants:
        settings = variant["settings"]
        train_opts = {k: v for k, v in settings.items() if k in TRAIN_FIELDS}
        model_opts = {k: v for k, v in settings.items() if k not in TRAIN_FIELDS}
        for k, run in enumerate(map(Path, variant["runs"])):
            if (run / "summary.json").exists():
                if progress:
                    progress("skip", run_dir=run)
                continue
            if progress:
                progress("trial", trial=k + 1, trials=trials, seed=base_config.seed + k, variant=variant["name"])
            if (run / "last.pt").exists() and (run / "config.json").exists():
                train(resume_config(run), ds, progress or (lambda *a, **kw: None), resume=True)
                continue
            values = dict(base_config.to_dict(), **train_opts, seed=base_config.seed + k, out=str(run))
            values["model_options"] = dict(base_config.model_options, **model_opts)
            config = TrainConfig.from_dict(values)
            config.validate()
            train(config, ds, progress or (lambda *a, **kw: None), overwrite=True)
    return sweep
