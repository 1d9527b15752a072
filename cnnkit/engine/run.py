"""Running a planned training: the epoch loop, the run directory, checkpoints, the test
on best.pt, trials, and resuming.

    config, ds = make_config("convnet", "shapes", {"epochs": 3})   # engine/plan.py
    summary = run_training(config, ds, progress=print_event)

Per epoch: train, validate, append metrics.csv, redraw curves.png, write last.pt
(everything a resume needs) and, when validation improved, best.pt. At the end the
test split is evaluated once, on best.pt, and summary.json is written. The test
split never influences a choice.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit import outputs
from cnnkit.data.catalog import load_dataset
from cnnkit.engine import distributed, tblog
from cnnkit.engine.build import Parts, build
from cnnkit.engine.checkpoint import Checkpoint, CheckpointError, checkpoint_dict, read_checkpoint, save_checkpoint
from cnnkit.engine.config import NOT_DEFINING, TrainConfig
from cnnkit.engine.device import environment, resolve_device, set_deterministic
from cnnkit.engine.metrics import headline
from cnnkit.engine.optim import parse_switch
from cnnkit.engine.plan import data_options, default_out
from cnnkit.engine.rundir import RunDir, differences
from cnnkit.engine.trainer import seed_everything
from cnnkit.errors import CnnkitError, RunFailure

Progress = Callable[..., None]  # progress(event: str, **info)


class Interrupted(RunFailure):
    exit_code = 130


def _quiet(event: str, **info) -> None:
    pass


@dataclass
class _Loop:
    """Where the epoch loop stands: what last.pt records for a resume."""

    history: list = field(default_factory=list)  # one metrics.csv row per finished epoch
    best: float = -math.inf  # the best validation headline so far
    bad_epochs: int = 0  # epochs since it improved (--patience)
    epoch: int = 0  # epochs finished
    phase: int = 0  # index of the --switch phase


def run_training(config: TrainConfig, ds=None, progress: Progress = _quiet, resume: bool = False, overwrite: bool = False,
                 nested: bool = False) -> dict:
    """Run (or continue, with resume=True and config.out set) one training run. `nested`:
    a trial or sweep variant that cnnkit itself places inside its trials / sweep folder.

    Returns the summary dict that is also written to summary.json."""
    d, device = distributed.init(resolve_device(config.device))
    if not d.is_main:
        progress = _quiet  # rank 0 reports for the job
    if config.log:
        tblog.require()  # before the run directory exists: a missing package leaves nothing behind
    if config.batch_size % d.world:
        raise CnnkitError(f"--batch-size {config.batch_size} is the global batch and must split evenly over {d.world} processes; "
                          f"use a multiple of {d.world}")
    if ds is None:  # a resumed run: its data as it was planned
        with distributed.main_first(d):
            ds = load_dataset(config.dataset, data_options(config))
    run = RunDir(d.broadcast(str(config.out or default_out(config))))  # one name, though the ranks' clocks differ
    outputs.check_outside(run.path, outputs.dataset_folders(config.dataset))  # the write rule (cnnkit.outputs)
    if not resume and getattr(config, "weights", None):
        outputs.check_inputs_not_inside(run.path, [config.weights])
    # Rank 0 owns the folder for the run's life (a second writer gets RunBusy naming its PID).
    distributed.on_main(d, run.acquire if resume else (lambda: run.create(overwrite, nested)))
    try:
        with tblog.logging(config.log if d.is_main else None, run.path, progress) as progress:  # rank 0 logs
            return _train_in(run, config, ds, d, device, progress, resume)
    except BaseException as e:
        # A new run that failed before its first epoch leaves nothing behind that blocks a retry
        # (Ctrl-C keeps last.pt of epoch 0: --resume works from it).
        if d.is_main and not resume and not isinstance(e, Interrupted) and not run.file("metrics.csv").exists():
            run.abandon()
        raise
    finally:
        if d.is_main:
            run.release()


def _train_in(run: RunDir, config: TrainConfig, ds, d: distributed.Dist, device, progress: Progress, resume: bool) -> dict:
    config.out = str(run.path)
    set_deterministic(config.deterministic)
    seed_everything(config.seed)
    last = _load_shared(run.file("last.pt"), d) if resume else None
    parts = build(config, ds, device, d, last.model_record if last else None, run.path)
    phases = parse_switch(config.switch, config.epochs, config.optimizer, config.lr)
    steps = len(parts.train_loader)
    loop = _Loop()
    if last is not None:
        parts.model.load_state_dict(last.state_dict)
        loop = _Loop(last.history, last.best, last.bad_epochs, last.epoch, last.phase)
        # The optimiser of the phase the last finished epoch used; the loop switches
        # at the phase boundary exactly as an uninterrupted run does.
        parts.trainer.start_phase(phases[loop.phase], steps)
        parts.trainer.load_state_dict(last.trainer_state)
        if d.is_main:  # config.json says what the run is now (e.g. --epochs raised on resume)
            run.write_json("config.json", config.to_dict())
    else:
        parts.trainer.start_phase(phases[0], steps)
        if d.is_main:
            run.write_json("config.json", config.to_dict())
            _keep_source(run, parts.model)
            save_checkpoint(run.file("last.pt"), _checkpoint(parts, ds, config, loop))
    progress("start", run_dir=run.path, config=config, epochs=config.epochs, start_epoch=loop.epoch, batches=steps,
             dataset=ds, device=device, precision=parts.trainer.precision.name)
    _epochs(run, config, ds, parts, phases, loop, progress)
    d.barrier()  # best.pt is written before any rank reads it back
    return _finish(run, parts, ds, config, loop.history, progress)


def _epochs(run: RunDir, config: TrainConfig, ds, parts: Parts, phases: list, loop: _Loop, progress: Progress) -> None:
    """The epoch loop, from loop.epoch to --epochs (or early stopping)."""
    trainer, d = parts.trainer, parts.trainer.dist
    steps = len(parts.train_loader)
    metric = "accuracy" if ds.task == "classification" else "dice"
    epoch = loop.epoch
    try:
        for epoch in range(loop.epoch, math.ceil(config.epochs)):
            if epoch == phases[loop.phase].end:
                loop.phase += 1
                trainer.start_phase(phases[loop.phase], steps)
                progress("switch", epoch=epoch, optimizer=phases[loop.phase].optimizer, lr=phases[loop.phase].lr)
            max_steps = trainer.total_steps - epoch * steps  # fewer than `steps` only in the last of fractional epochs
            record = {"epoch": epoch + 1, "lr": trainer.lr,
                      **trainer.train_epoch(parts.train_loader, epoch, lambda **b: progress("batch", **b), max_steps=max_steps)}
            if parts.val_loader is not None:
                # choosing the epoch needs no more than mirror TTA; the six-view level is for the test (3x the cost)
                val = trainer.evaluate(parts.val_loader, "mirror" if trainer.tta == "mirror+translate" else None)
                record.update({f"val_{k}": v for k, v in val.items() if not isinstance(v, list)})
                score = headline(ds.task, val)
                if trainer.plateau is not None:
                    trainer.plateau.step(score)
            else:
                score = -record["train_loss"]  # no validation split: the latest epoch is the best
            loop.history.append(record)
            loop.epoch = epoch + 1
            improved = score > loop.best
            loop.best, loop.bad_epochs = (score, 0) if improved else (loop.best, loop.bad_epochs + 1)
            if d.is_main:  # every rank holds the same model and metrics; one writes them
                ckpt = _checkpoint(parts, ds, config, loop)
                if improved:
                    save_checkpoint(run.file("best.pt"), {k: v for k, v in ckpt.items() if k != "trainer"})
                save_checkpoint(run.file("last.pt"), ckpt)
                run.write_metrics(loop.history)
                _curves(run, loop.history, metric if parts.val_loader is not None else None, ds.task)
            progress("epoch", record=record, improved=improved, metric=metric)
            if config.patience and loop.bad_epochs >= config.patience:
                progress("early_stop", epoch=epoch + 1, patience=config.patience)
                break
    except KeyboardInterrupt:
        done = loop.history[-1]["epoch"] if loop.history else 0
        raise Interrupted(f"interrupted in epoch {epoch + 1}; {run.file('last.pt')} holds epoch {done}. "
                          f"Continue with: cnnkit train --resume {run.path} "
                          f"(from Python: cnnkit.train(resume={str(run.path)!r}))") from None


def _checkpoint(parts: Parts, ds, config: TrainConfig, loop: _Loop) -> dict:
    extra = {"epoch": loop.epoch, "history": loop.history, "best": loop.best, "bad_epochs": loop.bad_epochs,
             "phase": loop.phase, "config": config.to_dict(), "dataset": config.dataset, "ignore_index": ds.ignore_index,
             "trainer": parts.trainer.state_dict()}
    return checkpoint_dict(parts.model, ds.input_shape, ds.class_names, ds.normalization, task=ds.task, **extra)


def _keep_source(run: RunDir, model: nn.Module) -> None:
    """A readable copy of the model's own code in the run directory (model-source.py, in the
    folder's manifest), next to the copy every checkpoint holds: the run stays self-contained
    after the file moves, changes or is deleted."""
    from cnnkit.engine.rundir import write_atomic
    from cnnkit.models.source import SOURCE_COPY

    source = model.cnnkit_config.get("source", {})
    code = source.get("code") or (source.get("origin") or {}).get("code")
    original = source.get("path") or (source.get("origin") or {}).get("path")
    if code:
        write_atomic(run.file(SOURCE_COPY), code, outputs.SOURCE, inputs=[original] if original else ())


def model_record(model: nn.Module) -> dict:
    """What summary.json says about the network: its kind, file, object and sha256 (not its code)."""
    source = dict(model.cnnkit_config.get("source", {"kind": "registry"}))
    source.pop("code", None)
    if "origin" in source:
        source["origin"] = {k: v for k, v in source["origin"].items() if k != "code"}
    return source


def _load_shared(path: Path, d: distributed.Dist) -> Checkpoint:
    """A run's own checkpoint, read by rank 0 and sent to every rank (no shared filesystem needed)."""
    def read() -> Checkpoint:
        ckpt = read_checkpoint(path)
        if ckpt.foreign:
            raise CheckpointError(f"{path} is not a cnnkit checkpoint; it was replaced after the run wrote it. "
                                  "Start a new run with another --out")
        return ckpt

    return d.broadcast(read() if d.is_main else None)


def _curves(run: RunDir, history: list[dict], metric: Optional[str], task: str) -> None:
    from cnnkit.viz.curves import plot_curves

    key = metric if metric else ("accuracy" if task == "classification" else "pixel_accuracy")
    plot_curves({run.path.name: history}, run.file("curves.png"), metric=key)


def warmup_split(history: list[dict]) -> dict:
    """Epoch 1's time split into warm-up (torch.compile, cuDNN autotuning, first allocations)
    and steady state: steady_images_per_second is the median rate of the later epochs, and
    warmup_seconds what epoch 1 took beyond its images at that rate (0 with one epoch)."""
    if len(history) < 2:
        return {"warmup_seconds": 0.0, "steady_images_per_second": history[0]["train_images_per_second"] if history else None}
    rate = statistics.median(r["train_images"] / r["train_seconds"] for r in history[1:] if r["train_seconds"] > 0)
    first = history[0]
    return {"warmup_seconds": max(0.0, first["train_seconds"] - first["train_images"] / rate), "steady_images_per_second": rate}


def _finish(run: RunDir, parts: Parts, ds, config: TrainConfig, history: list, progress: Progress) -> dict:
    """Evaluate the test split once, on the best checkpoint, and write summary.json."""
    trainer, model = parts.trainer, parts.model
    d = trainer.dist
    best_epoch = None
    if d.broadcast(run.file("best.pt").exists()):
        best = _load_shared(run.file("best.pt"), d)
        model.load_state_dict(best.state_dict)
        best_epoch = best.epoch
    seconds = sum(r["train_seconds"] for r in history)
    summary = {
        "task": ds.task,
        "model": config.model,
        "model_source": model_record(model),
        "dataset": config.dataset,
        "epochs_run": len(history),
        "train_seconds": seconds,
        "train_images_per_second": sum(r["train_images"] for r in history) / max(seconds, 1e-9),
        "device": str(trainer.device),
        "precision": trainer.precision.name,
        "model_dtype": str(trainer.model_dtype or torch.float32).replace("torch.", ""),
        **warmup_split(history),
        "processes": d.world,
        "run_dir": str(run.path),
        "environment": environment(trainer.device),  # what `cnnkit report` shows to reproduce the run
    }
    # the epoch best.pt holds: the one model selection chose, not recomputed here
    best_row = next((r for r in history if r["epoch"] == best_epoch), None)
    if best_row is not None:
        summary["best_epoch"] = best_epoch
    key = "val_accuracy" if ds.task == "classification" else "val_dice"
    summary[f"best_{key}"] = best_row.get(key) if best_row else None
    if parts.test_loader is not None:
        summary.update(_test_summary(trainer.evaluate(parts.test_loader), ds))
    if d.is_main:
        run.write_json("summary.json", summary)
    progress("end", summary=summary)
    return summary


def _test_summary(test: dict, ds) -> dict:
    """summary.json's test_* keys from Trainer.evaluate on the test split."""
    if ds.task == "classification":
        out = {"test_accuracy": test["accuracy"], "test_per_class_accuracy": dict(zip(ds.class_names, test["per_class_accuracy"])),
               "test_confusion_matrix": test["confusion_matrix"]}
        if "top5_accuracy" in test:
            out["test_top5_accuracy"] = test["top5_accuracy"]
    else:
        out = {"test_dice": test["dice"], "test_iou": test["iou"], "test_pixel_accuracy": test["pixel_accuracy"],
               "test_dice_per_class": dict(zip(ds.class_names, test["dice_per_class"])),
               "test_iou_per_class": dict(zip(ds.class_names, test["iou_per_class"])),
               # per-image macro Dice over the test images (std over images, N not N-1)
               "test_dice_mean": test["dice_mean"], "test_dice_std": test["dice_std"],
               "test_dice_min": test["dice_min"], "test_dice_max": test["dice_max"],
               "test_iou_min": test["iou_min"], "test_images": test["images"]}
    out["test_loss"] = test.get("loss")
    return out


def resume_config(run_dir: str | Path, epochs: Optional[float] = None, given: Optional[dict] = None) -> TrainConfig:
    """The config of the run in `run_dir`, to continue it (optionally for more epochs).

    `given` holds the options the user set alongside --resume (and 'model'): a resumed
    run keeps the settings that define it, so any that differ are refused, naming them."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        what = "is a file, not a run directory" if run.path.exists() else "no such run directory"
        raise CnnkitError(f"--resume {run_dir}: {what}; give the folder `cnnkit train --out` wrote")
    config = TrainConfig.from_dict(run.read_json("config.json"))
    if not run.file("last.pt").exists():
        raise CnnkitError(f"{run.path} has no last.pt to resume from; start a new run")
    wanted = {k: v for k, v in (given or {}).items() if v is not None and k not in NOT_DEFINING}
    changed = differences(config.to_dict(), dict(config.to_dict(), **wanted), sorted(wanted))
    if changed:
        raise CnnkitError(f"--resume {run.path}: this run was trained with other settings ({'; '.join(changed)}); "
                          "a resumed run keeps its own. Drop those options to continue it, or start a fresh run "
                          "with another --out")
    out = (given or {}).get("out")
    if out is not None and Path(out).resolve() != run.path.resolve():
        raise CnnkitError(f"--out {out} with --resume {run.path}: a resumed run continues in its own folder; "
                          "drop --out (or start a fresh run there without --resume)")
    config.out = str(run.path)
    finished = run.file("summary.json").exists()
    have = f"{config.epochs:g}"  # epochs may be fractional (9.9)
    if epochs is not None and epochs < config.epochs:
        raise CnnkitError(f"--epochs {epochs:g} is fewer than the run's {have}; give --epochs more than {have} to train it further")
    if finished and (epochs is None or epochs == config.epochs):
        raise CnnkitError(f"{run.path} already finished its {have} epochs; give --epochs N (more than {have}) "
                          "with --resume to train it further, or start a new run")
    if epochs is not None:
        config.epochs = epochs
    return config


def run_trials(config: TrainConfig, ds, trials: int, progress: Progress = _quiet, overwrite: bool = False) -> dict:
    """K runs with seeds seed .. seed+K-1 (the data split stays fixed), one run dir
    each under config.out, and their mean +/- std (coursework tables compare means of 3 trials)."""
    base = Path(config.out or default_out(config))
    if isinstance(config.model_object, nn.Module):
        raise CnnkitError(f"{trials} trials need a fresh {config.model} each: pass the class or the function that builds "
                          f"it (e.g. cnnkit.train({config.model}, ...)), not a model object")
    d = distributed.from_env()
    base_run = RunDir(base)  # locked for the whole set; --overwrite clears old trial folders and trials.json
    outputs.check_outside(base, outputs.dataset_folders(config.dataset))
    distributed.on_main(d, lambda: base_run.create(overwrite))
    results = []
    try:
        for k in range(trials):
            c = TrainConfig.from_dict(dict(config.to_dict(), seed=config.seed + k, out=str(base / f"trial-{k + 1}")))
            c.model_object = config.model_object
            progress("trial", trial=k + 1, trials=trials, seed=c.seed)
            if d.is_main:  # listed in the set's manifest: --overwrite of the set clears it
                outputs.record_written(base, f"trial-{k + 1}", outputs.FOLDER)
            results.append(run_training(c, ds, progress, overwrite=overwrite, nested=True))
    finally:
        if d.is_main:
            base_run.release()
    keys = [k for k in ("best_val_accuracy", "test_accuracy", "best_val_dice", "test_dice", "test_iou", "train_seconds")
            if all(isinstance(r.get(k), (int, float)) for r in results)]
    table = {k: {"mean": statistics.fmean(r[k] for r in results),
                 "std": statistics.stdev([r[k] for r in results]) if trials > 1 else 0.0,
                 "values": [r[k] for r in results]} for k in keys}
    out = {"task": ds.task, "trials": trials, "seeds": [config.seed + k for k in range(trials)], "metrics": table,
           "runs": [r["run_dir"] for r in results]}
    if d.is_main:
        RunDir(base).write_json("trials.json", out)
    return out
