"""Sweeps, comparison tables and reports from Python: `cnnkit sweep`, `cnnkit compare`,
`cnnkit report`, with the commands' names and defaults; each returns what the command's
`--json` prints.

    result = cnnkit.sweep("convnet", dataset="shapes", vary=["optimizer=sgd,adam"], trials=2, epochs=2)
    result["comparison"]["rows"][0]["test_accuracy"]["mean"]
    cnnkit.compare(["sweeps/convnet-shapes"], metric="test_accuracy")
    cnnkit.report("sweeps/convnet-shapes")["report"]      # the HTML file

Training options are `cnnkit.train`'s (`lr=0.01`, `model_options={"depth": 3}`); an
unknown one is an error, as it is for `cnnkit.train`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional, Union

from cnnkit.errors import CnnkitError


def sweep(model=None, dataset: Optional[str] = None, *, file: Optional[Union[str, Path]] = None,
          vary: Optional[list[str]] = None, trials: Optional[int] = None, out: Optional[Union[str, Path]] = None,
          overwrite: bool = False, progress: Union[bool, Callable, None] = True, **options) -> dict:
    """Train every combination of the `vary` axes ("optimizer=sgd,adam"), `trials` times each,
    into `out` (default sweeps/MODEL-DATA); a finished run is skipped when it is run again.

    `file`: a TOML sweep file (docs/experiments.md); what is given here overrides it and
    `vary` adds to its grid. Returns {'sweep': sweep.json, 'comparison': compare(out)}."""
    from cnnkit.api.plain import plain
    from cnnkit.experiments.sweep import load_sweep_file, run_sweep, train_options
    from cnnkit.progress import make_progress

    spec = load_sweep_file(file) if file else {}
    model = model or spec.get("model")
    if not model:
        raise CnnkitError("which model? give MODEL (cnnkit models lists them) or `model = ...` in the sweep file")
    dataset = dataset or spec.get("dataset", "shapes")
    trials = trials if trials is not None else spec.get("trials", 1)
    given = train_options(options)
    base = dict(spec.get("train", {}), **{k: v for k, v in given.items() if k != "model_options"})
    model_options = {**spec.get("train", {}).get("model_options", {}), **given.get("model_options", {})}
    if model_options:
        base["model_options"] = model_options
    target = str(out or spec.get("out") or f"sweeps/{model}-{dataset.split(':')[-1].rstrip('/').split('/')[-1]}")
    display = progress if callable(progress) else make_progress(quiet=not progress)
    try:
        result = run_sweep(model, dataset, base, vary or [], trials, target, display, spec.get("vary"),
                           spec.get("variants"), overwrite)
    finally:
        getattr(display, "close", lambda: None)()
    return plain({"sweep": result, "comparison": compare([target])})


def sweep_option_names() -> list[str]:
    """The training options a sweep takes, in `cnnkit train --help`'s order (all but --dataset / --out,
    which are the sweep's own)."""
    from cnnkit.engine.config import OPTIONS
    from cnnkit.experiments.sweep import SWEPT

    return [name for name in OPTIONS if name in SWEPT]


def compare(dirs: list[Union[str, Path]], metric: Optional[str] = None, baseline: Optional[str] = None) -> dict:
    """Per variant of run, trials or sweep directories: the metric's mean, std, min and max
    over trials, best epoch, time, and the paired difference to `baseline` (default: the first)."""
    from cnnkit.api.plain import plain
    from cnnkit.experiments.compare import compare as table

    return plain(table([str(d) for d in dirs], metric, baseline))


def compare_markdown(result: dict) -> str:
    """A compare() result as a Markdown table (`cnnkit compare --markdown`)."""
    from cnnkit.experiments.compare import to_markdown

    return to_markdown(result)


def compare_csv(result: dict) -> str:
    """A compare() result as CSV (`cnnkit compare --csv`)."""
    from cnnkit.experiments.compare import to_csv

    return to_csv(result)


def report(directory: Union[str, Path], out: Optional[Union[str, Path]] = None, device: str = "cpu",
           data_dir: Optional[str] = None) -> dict:
    """One self-contained HTML page for a run, trials or sweep directory (`cnnkit report`);
    {'report': the file, ...}."""
    from cnnkit.api.plain import plain
    from cnnkit.experiments.report import build_report

    return plain(build_report(directory, out, device, data_dir))
