"""Sweeps: a grid of variants x trials, run one after another, resumable.

    SWEEP/sweep.json                        the grid: variants, their settings, run dirs
    SWEEP/<variant>/trial-<k>/...           an ordinary run directory per trial

A finished run (summary.json present) is skipped when the sweep is run again; an
interrupted one (last.pt, no summary.json) is resumed; the rest start fresh.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import fields
from pathlib import Path

from cnnkit.engine.config import TrainConfig
from cnnkit.engine.rundir import RunDir
from cnnkit.errors import CnnkitError

TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"model", "dataset", "out", "seed", "model_options"}


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
        if key not in TRAIN_FIELDS and key not in model_options:
            raise CnnkitError(f"--vary {key}: not a training option or an option of this model "
                              f"(model options: {', '.join(sorted(model_options))})")
        # split on commas outside brackets, so widths=(8,16),(16,32) gives two values
        parts = [p.strip() for p in re.split(r",(?![^()\[\]]*[)\]])", values) if p.strip()]
        axes.append((key, [literal(p) for p in parts]))
    return axes


def variant_name(settings: dict) -> str:
    """{'optimizer': 'sgd', 'widths': (8, 16)} -> 'optimizer-sgd_widths-8x16' (a folder name)."""
    fmt = lambda v: "x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
    text = "_".join(f"{k}-{fmt(v)}" for k, v in settings.items()) or "base"
    return re.sub(r"[^A-Za-z0-9._=-]+", "", text.replace(" ", ""))


def grid(axes: list[tuple[str, list]]) -> list[dict]:
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*[v for _, v in axes])] or [{}]


def run_sweep(model: str, dataset: str, base: dict, vary: list[str], trials: int, out: str | Path, progress=None) -> dict:
    from cnnkit.engine.train import make_config, resume_config, train
    from cnnkit.registry import get_spec

    if trials < 1:
        raise CnnkitError("--trials must be at least 1")
    out = Path(out)
    axes = parse_vary(vary, set(get_spec(model).options()))
    base_config, ds = make_config(model, dataset, dict(base))
    variants = []
    for settings in grid(axes):
        name = variant_name(settings)
        train_opts = {k: v for k, v in settings.items() if k in TRAIN_FIELDS}
        model_opts = {k: v for k, v in settings.items() if k not in TRAIN_FIELDS}
        runs = []
        for k in range(trials):
            run = out / name / f"trial-{k + 1}"
            runs.append(str(run))
            if (run / "summary.json").exists():
                if progress:
                    progress("skip", run_dir=run)
                continue
            if progress:
                progress("trial", trial=k + 1, trials=trials, seed=base_config.seed + k, variant=name)
            if (run / "last.pt").exists() and (run / "config.json").exists():
                train(resume_config(run), ds, progress or (lambda *a, **kw: None), resume=True)
                continue
            values = dict(base_config.to_dict(), **train_opts, seed=base_config.seed + k, out=str(run))
            values["model_options"] = dict(base_config.model_options, **model_opts)
            config = TrainConfig.from_dict(values)
            config.validate()
            train(config, ds, progress or (lambda *a, **kw: None), overwrite=True)
        variants.append({"name": name, "settings": settings, "runs": runs})
    sweep = {"model": model, "dataset": dataset, "trials": trials, "vary": [[k, v] for k, v in axes], "variants": variants,
             "base": {k: v for k, v in base.items() if k != "out"}}
    RunDir(out).path.mkdir(parents=True, exist_ok=True)
    RunDir(out).write_json("sweep.json", sweep)
    return sweep
