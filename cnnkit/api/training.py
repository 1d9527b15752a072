"""Training from Python: `cnnkit train` as `cnnkit.train(...)`, returning a `Run`.

    run = cnnkit.train("convnet", dataset="shapes", epochs=3, batch_size=64, lr=0.05)
    run.summary["test_accuracy"], run.metrics[-1]["val_loss"], run.best
    run.curves()                            # matplotlib Figure: loss and accuracy per epoch
    cnnkit.train(resume=run.dir, epochs=5)  # continue it (also after Ctrl-C / an interrupted cell)

Options are the command's flags with underscores (`batch_size=`, `weight_decay=`,
`image_size="256x256"`, `model_options={"depth": 3}`, `log="tensorboard"`); an unknown
one is an error, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from cnnkit.errors import CnnkitError


@dataclass
class Run:
    """One training run directory, read back as plain data.

    dir: the run directory; config: config.json; metrics: metrics.csv, one dict per epoch;
    summary: summary.json (what `cnnkit train --json` prints; empty while unfinished);
    best / last: the checkpoint paths (None when absent)."""

    dir: Path
    config: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    best: Optional[Path] = None
    last: Optional[Path] = None

    @classmethod
    def open(cls, run_dir: Union[str, Path], summary: Optional[dict] = None) -> Run:
        """Read a run directory (finished or not). `summary` saves re-reading summary.json."""
        from cnnkit.api.plain import plain
        from cnnkit.engine.rundir import RunDir, read_metrics

        run = RunDir(run_dir)
        if not run.path.is_dir():
            raise CnnkitError(f"{run_dir} is not a folder; give a run directory that `cnnkit train` wrote")
        config = run.read_json("config.json")  # says what to do when it is not a run directory
        metrics = read_metrics(run.file("metrics.csv")) if run.file("metrics.csv").exists() else []
        if summary is None:
            summary = run.read_json("summary.json") if run.file("summary.json").exists() else {}
        existing = lambda name: run.file(name) if run.file(name).exists() else None
        return cls(run.path, config, metrics, plain(summary), existing("best.pt"), existing("last.pt"))

    def curves(self, metric: Optional[str] = None):
        """Learning curves as a matplotlib Figure (Jupyter shows it inline): loss and
        `metric` per epoch, training dashed, validation solid, as curves.png draws them.
        `metric` defaults to the headline metric: accuracy, or Dice for segmentation."""
        from cnnkit.api.visualize import curves

        if not self.metrics:
            raise CnnkitError(f"{self.dir} has no finished epoch yet, so no curves; train it first")
        return curves(self.dir, metric)

    def evaluate(self, **options) -> dict:
        """cnnkit.evaluate on this run's best checkpoint (last.pt when there is none)."""
        from cnnkit.api.inference import evaluate

        return evaluate(self._checkpoint(), **options)

    def load(self, device: str = "auto"):
        """cnnkit.load on this run's best checkpoint: a Predictor."""
        from cnnkit.api.inference import load

        return load(self._checkpoint(), device)

    def _checkpoint(self) -> Path:
        if self.best is None and self.last is None:
            raise CnnkitError(f"{self.dir} has no checkpoint; train it first")
        return self.best or self.last


@dataclass
class Trials:
    """`train(..., trials=K)`: K runs with seeds seed..seed+K-1. summary is trials.json
    (what `cnnkit train --trials K --json` prints: mean / std / values per metric)."""

    dir: Path
    summary: dict
    runs: list


def open_run(run_dir: Union[str, Path]) -> Run:
    """A run directory written earlier (by the command or by train()) as a Run."""
    return Run.open(run_dir)


def train(model=None, dataset: Optional[str] = None, epochs: Optional[int] = None, *,
          resume: Optional[Union[str, Path]] = None, trials: int = 1, overwrite: bool = False,
          progress: Union[bool, Callable, None] = True, **options) -> Union[Run, Trials]:
    """Train `model` on `dataset` (default "shapes") and return the Run (`cnnkit train`).

    `model`: a registered name, "my_net.py:Net1", a layer spec, or your own network from
    Python: a class (`cnnkit.train(MyNet, ...)`: num_classes / in_channels filled in where
    it takes them, `model_options` its other arguments), a function returning one, or a
    model object (`cnnkit.train(MyNet(), ...)`, trained in place). The run keeps the code.

    Defaults are the command's: the recipe is picked from the data, the run directory is
    runs/MODEL-DATA-TIME unless `out=` names one. `resume=DIR` continues a run (give
    `epochs` to extend it). `progress`: True shows a live display (in Jupyter, on a
    terminal or as lines), False nothing, or a callable progress(event, **info).
    Interrupting (Ctrl-C, Jupyter's stop button) raises cnnkit's Interrupted error whose
    message says how to resume; last.pt holds the last finished epoch."""
    from cnnkit.api.plain import plain
    from cnnkit.engine.config import check_names, parse_value
    from cnnkit.engine.plan import make_config
    from cnnkit.engine.run import resume_config, run_training, run_trials
    from cnnkit.progress import make_progress

    check_names(options)  # a typo is refused, resumed or not, before anything is read
    options = {k: parse_value(k, v) for k, v in options.items()}  # sizes as TrainConfig holds them: [h, w]
    display = progress if callable(progress) else make_progress(quiet=not progress)
    try:
        if resume:
            given = dict(options, model=model, dataset=dataset, trials=trials if trials != 1 else None)
            config = resume_config(resume, epochs, given)
            if options.get("log"):  # logging may start on a resumed run
                config.log = options["log"]
            return Run.open(config.out, run_training(config, progress=display, resume=True))
        if model is None:
            raise CnnkitError("give a model to train (see `cnnkit models`), or --resume DIR")
        if not isinstance(trials, int) or trials < 1:
            raise CnnkitError("--trials must be at least 1")
        overrides = {k: v for k, v in dict(options, epochs=epochs).items() if v is not None}
        config, ds = make_config(model, dataset or "shapes", overrides)
        if trials > 1:
            result = plain(run_trials(config, ds, trials, display, overwrite))
            return Trials(Path(config.out or Path(result["runs"][0]).parent), result, [Run.open(r) for r in result["runs"]])
        summary = run_training(config, ds, display, overwrite=overwrite)
        return Run.open(summary["run_dir"], summary) if _is_writer() else Run(Path(summary["run_dir"]), summary=plain(summary))
    finally:
        getattr(display, "close", lambda: None)()  # a live display is stopped after Ctrl-C or an error too


def _is_writer() -> bool:
    """Under torchrun only rank 0 writes the run directory; other ranks get the summary only."""
    import os

    return os.environ.get("RANK", "0") == "0"
