"""Sweeps: a grid of variants x trials, run one after another, resumable.

    SWEEP/sweep.json                        the plan: variants, their settings, run dirs
    SWEEP/<variant>/trial-<k>/...           an ordinary run directory per trial

Variants come from --vary axes (every combination), from a TOML file's [vary] grid
and [[variant]] list (each listed variant crossed with the grid), or both.
A finished run (summary.json present) is skipped when the sweep is run again; an
interrupted one (last.pt, no summary.json) is resumed; the rest start fresh.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from typing import Optional

from cnnkit.engine.config import OPTIONS, PATH, TEXT, TrainConfig, check_names, check_value, literal_value, parse_value
from cnnkit.engine.rundir import RunDir, clear_owned
from cnnkit.errors import CnnkitError
from cnnkit.outputs import (
    FOLDER,
    MANIFEST,
    check_new_folder,
    check_outside,
    dataset_folders,
    is_legacy_folder,
    owned_kind,
    record_written,
    written,
)

# The training options a sweep takes (its own --dataset and --out aside): the same
# declaration `cnnkit train` reads (engine/config.OPTIONS). The seed is a sweep-wide
# setting (trial k uses seed + k), not a grid axis.
SWEPT = frozenset(OPTIONS) - {"dataset", "out"}
VARIED = SWEPT - {"seed", "model_options"}
FILE_KEYS = ("model", "dataset", "trials", "out", "train", "vary", "variant")


def train_options(options: dict, where: str = "") -> dict:
    """A sweep's own training options (from Python or a [train] table), checked against the
    declaration before any variant is planned: an unknown name or a value of the wrong kind
    or range is refused, naming where it came from; sizes become [h, w]; None is not given."""
    check_names(options)
    values = {k: parse_value(k, v) for k, v in options.items() if v is not None}
    for key, value in values.items():
        try:
            check_value(key, value)
        except CnnkitError as e:
            if not where:  # given as flags or keywords: the flag's own message says it
                raise
            raise CnnkitError(f"{where} {key}: {e}") from None
    return values


def axis_value(key: str, text: str):
    """One value of a --vary axis: text stays text for a text option (--vary init=default,
    orthogonal); otherwise as a Python literal (model options' types are the model's)."""
    if key in OPTIONS and OPTIONS[key].kind in (TEXT, PATH):
        return text
    return literal_value(text)


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
        axes.append((key, [axis_value(key, p) for p in parts]))
    return axes


def check_key(key: str, model_options: set[str], where: str) -> None:
    if key == "seed" and key not in model_options:
        raise CnnkitError(f"{where} seed: the seed is not a grid axis; --trials K trains seeds seed..seed+K-1 in every "
                          "variant (give --seed to the sweep to move them)")
    if key not in VARIED and key not in model_options:
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
    from cnnkit.textfile import read_user_text

    text = read_user_text(path, "sweep file (TOML, see docs/experiments.md)")
    try:
        data = tomllib.loads(text)
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
        if key not in SWEPT:
            raise CnnkitError(f"sweep file {path}: [train] {key} is not a `cnnkit train` option")
    if options:
        train["model_options"] = options
    out["train"] = train_options(train, f"sweep file {path}: [train]")
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


def run_sweep(model: str, dataset: str, base: dict, vary: list[str], trials: int, out: str | Path, progress=None,
              axes: Optional[list[tuple[str, list]]] = None, listed: Optional[list[dict]] = None,
              overwrite: bool = False) -> dict:
    """Train every variant x trial not finished yet. `vary` are --vary strings; `axes`
    and `listed` come already parsed from a sweep file.

    A sweep directory belongs to one set of settings: running it again with others
    (another dataset, lr, grid ...) is refused, naming what differs, before anything is
    trained or written; `overwrite` clears the old sweep's files first."""
    from cnnkit.engine.distributed import from_env, on_main
    from cnnkit.engine.plan import make_config
    from cnnkit.engine.run import resume_config, run_training
    from cnnkit.models.source import kind_of, option_names
    from cnnkit.registry import resolve_kwargs

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise CnnkitError(f"--trials must be a whole number, at least 1 (got {trials!r})")
    out = Path(out)
    model_options = option_names(model)  # a registered model's options, or your class's arguments
    for key, _ in axes or []:
        check_key(key, model_options, "vary")
    axes = list(axes or []) + parse_vary(vary, model_options)
    for item in listed or []:
        for key in item:
            if key != "name":
                check_key(key, model_options, "variant")
    variants = [{"name": name, "settings": settings, "runs": [str(out / name / f"trial-{k + 1}") for k in range(trials)]}
                for name, settings in plan(axes, listed)]
    sweep = {"model": model, "dataset": dataset, "trials": trials, "vary": [[k, v] for k, v in axes], "variants": variants,
             "base": {k: v for k, v in base.items() if k != "out"}}
    # Every variant's whole plan (recipe, data policy, checks), made as `cnnkit train` makes
    # it, before the first one trains: a variant that cannot run stops the sweep here.
    loaded: dict = {}
    configs, data = {}, {}
    for v in variants:
        try:
            config, ds = make_config(model, dataset, _variant_overrides(base, v["settings"]), loaded)
            if kind_of(model) == "registry":
                resolve_kwargs(model, **config.model_options)
        except CnnkitError as e:
            raise CnnkitError(f"variant {v['name']}: {e}") from None
        v["policy"] = policy_lines(config)
        for k, run in enumerate(v["runs"]):
            configs[run] = TrainConfig.from_dict(dict(config.to_dict(), seed=config.seed + k, out=run))
            data[run] = ds
    base_seed = next(iter(configs.values())).seed
    d = from_env()
    lock = RunDir(out)
    kept = on_main(d, lambda: _claim(lock, sweep, configs, overwrite))
    if progress and kept:
        progress("note", text=kept)
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
                    progress("trial", trial=k + 1, trials=trials, seed=base_seed + k, variant=variant["name"])
                if d.is_main:  # listed in the manifests: --overwrite of the sweep clears them
                    record_written(out, run.parent.name, FOLDER)
                    record_written(run.parent, run.name, FOLDER)
                if (run / "last.pt").exists() and (run / "config.json").exists():
                    run_training(resume_config(run, configs[str(run)].epochs), data[str(run)], quiet, resume=True)
                    continue
                run_training(configs[str(run)], data[str(run)], quiet, overwrite=True, nested=True)
    finally:
        if d.is_main:
            lock.release()
    return sweep


def _variant_overrides(base: dict, settings: dict) -> dict:
    """The `cnnkit train` options of one variant: the sweep's own, then the variant's
    training and model options (given, as flags are: the data policy does not override them)."""
    train_opts = {key: v for key, v in settings.items() if key in VARIED}
    model_opts = {key: v for key, v in settings.items() if key not in VARIED}
    overrides = {k: v for k, v in base.items() if k != "out"}
    overrides.update(train_opts)
    if model_opts or base.get("model_options"):
        overrides["model_options"] = dict(base.get("model_options") or {}, **model_opts)
    return overrides


def policy_lines(config: TrainConfig) -> list[str]:
    from cnnkit.engine.policy import describe

    return describe(config)


def _claim(lock: RunDir, sweep: dict, configs: dict, overwrite: bool) -> str:
    """Lock the sweep folder, and make sure what is already in it belongs to this sweep.

    Run by run: a run whose recorded settings equal its planned ones is kept (finished:
    skipped; interrupted: resumed), whatever else in the sweep changed. A run trained with
    other settings is refused, naming them, unless `overwrite`: then those runs alone are
    deleted and trained again. Returns a line saying what was kept and what re-runs
    ('' for a new sweep)."""
    check_new_folder(lock.path, "sweep")  # not a run folder, not inside a run or another sweep
    check_outside(lock.path, dataset_folders(sweep["dataset"]))
    lock.acquire()
    try:
        try:
            old = _old_sweep(lock.path)
        except CnnkitError:
            if not overwrite:
                raise
            old = None  # a damaged sweep.json: --overwrite clears what can still be recognised
        kept, changed = [], {}
        for run, config in configs.items():
            diff = _run_differences(Path(run), config, overwrite)
            if diff is None:
                continue
            if diff:
                changed[run] = diff
            elif (Path(run) / "summary.json").exists():
                kept.append(run)
        planned = {v["name"] for v in sweep["variants"]}
        dropped = [str(v.get("name")) for v in (old or {}).get("variants", []) if v.get("name") not in planned]
        if changed and not overwrite:
            first = [f"{Path(r).relative_to(lock.path)}: " + "; ".join(d) for r, d in list(changed.items())[:3]]
            keep = f"; the {len(kept)} finished run(s) whose settings did not change are kept either way" if kept else ""
            raise CnnkitError(f"{lock.path} holds runs trained with other settings ({'; '.join(first)}"
                              f"{'; ...' if len(changed) > 3 else ''}); re-run with the same settings to continue them, "
                              f"choose another --out, or pass --overwrite to delete and re-train those {len(changed)} "
                              f"run(s){keep}")
        if overwrite:
            for run in changed:
                clear_owned(Path(run))
                _remove_empty(Path(run))
            for v in (old or {}).get("variants", []):
                if v.get("name") in dropped:
                    for run in v.get("runs", []):
                        clear_owned(Path(run))
                        _remove_empty(Path(run))
                    _remove_empty(lock.path / str(v.get("name", "")))
            for name in ("sweep.json", "report.html"):  # the sweep's own files; the runs are dealt with above
                if owned_kind(lock.path / name) is not None:  # a file of the user's under that name stays
                    (lock.path / name).unlink(missing_ok=True)
            if old is None and not (lock.path / "sweep.json").exists():
                _clear_unplanned(lock.path, planned)
        parts = []
        if kept:
            parts.append(f"kept {len(kept)} finished run(s) whose settings did not change "
                         f"({_variants_of(kept, lock.path)})")
        if changed:
            parts.append(f"re-training {len(changed)} run(s) trained with other settings ({_variants_of(changed, lock.path)})")
        if dropped:
            parts.append(f"variant(s) no longer in the sweep: {', '.join(dropped)}" +
                         (" (deleted)" if overwrite else " (their folders stay, left out of the table)"))
        return "; ".join(parts)
    except BaseException:
        lock.release()
        raise


def _run_differences(run: Path, config: TrainConfig, overwrite: bool) -> Optional[list[str]]:
    """None: nothing recorded in `run` yet; [] it was trained as planned; else what differs."""
    from cnnkit.engine.config import NOT_DEFINING
    from cnnkit.engine.rundir import differences

    f = run / "config.json"
    if not f.exists():
        return None
    try:
        have = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        if overwrite:
            return ["config.json unreadable"]
        raise CnnkitError(f"{f} is unreadable; pass --overwrite to train that run again") from None
    if not isinstance(have, dict):
        return ["config.json damaged"]
    planned = config.to_dict()
    # the policy record is the reasons, not settings (its choices are in the fields compared)
    keys = sorted((set(have) | set(planned)) - NOT_DEFINING - {"epochs", "policy"})
    diff = differences(have, planned, keys)
    if have.get("epochs") != config.epochs and (run / "summary.json").exists():
        diff.append(f"epochs {have.get('epochs')} -> {config.epochs}")
    return diff


def _variants_of(runs, root: Path) -> str:
    names = []
    for r in runs:
        name = Path(r).parent.name
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _clear_unplanned(path: Path, planned: set[str]) -> None:
    """--overwrite on a folder whose sweep.json was damaged: what cnnkit wrote there, except
    the planned variants' folders (their runs were checked one by one)."""
    for child in sorted(path.iterdir()):
        if child.is_dir() and child.name not in planned and (written(child) is not None or is_legacy_folder(child)):
            clear_owned(child)
            _remove_empty(child)


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
        if not any((path / n).exists() for n in (written(path) or {})):
            (path / MANIFEST).unlink(missing_ok=True)  # it lists nothing that is left
        path.rmdir()
    except OSError:
        pass  # not empty (a user's file) or already gone
