"""`cnnkit report`: one self-contained HTML page for a run, a trials directory or a
sweep: what was run (configuration), how it went (results, learning curves), what
the model does (confusion matrix or segmentation examples, first-layer filters) and
what it ran on (environment), so a reader can judge and reproduce the result.

Figures are drawn by cnnkit.viz into a temporary folder and embedded as PNG bytes;
the page itself is put together by cnnkit.viz.html.
"""

from __future__ import annotations

import datetime
import statistics
import tempfile
from pathlib import Path
from typing import Optional

from cnnkit import outputs as O
from cnnkit.data.catalog import dataset_task
from cnnkit.engine.rundir import RunDir, read_metrics, write_atomic
from cnnkit.errors import CnnkitError
from cnnkit.experiments.compare import collect, compare
from cnnkit.viz import html as H

SECTIONS = ("overview", "configuration", "results", "curves", "predictions", "filters", "environment")
RUN_METRICS = ("test_accuracy", "test_top5_accuracy", "best_val_accuracy", "test_dice", "test_iou", "test_pixel_accuracy",
               "best_val_dice", "test_loss", "best_epoch", "epochs_run", "train_seconds", "train_images_per_second")


class ReportedRun:
    """One run directory as the report reads it: config, summary (None while unfinished), history."""

    def __init__(self, path: str | Path, variant: str):
        self.path, self.variant = Path(path), variant
        rd = RunDir(self.path)
        self.config = rd.read_json("config.json") if rd.file("config.json").exists() else {}
        self.summary = rd.read_json("summary.json") if rd.file("summary.json").exists() else None
        self.history = read_metrics(rd.file("metrics.csv")) if rd.file("metrics.csv").exists() else []

    @property
    def checkpoint(self) -> Optional[Path]:
        return next((self.path / n for n in ("best.pt", "last.pt") if (self.path / n).exists()), None)


def kind_of(target: Path) -> str:
    for name, kind in (("sweep.json", "sweep"), ("trials.json", "trials"), ("config.json", "run")):
        if (target / name).exists():
            return kind
    raise CnnkitError(f"{target} is not a run, trials or sweep directory (no config.json, trials.json or sweep.json); "
                      "give a folder written by cnnkit train or cnnkit sweep")


def build_report(target: str | Path, out: Optional[str | Path] = None, device: str = "cpu", data_dir: Optional[str] = None) -> dict:
    """Write the report; returns {'report': path, 'kind', 'sections': [ids], 'bytes'}."""
    target = Path(target)
    if out is not None and Path(out).is_dir():  # checked first: a long report should not fail at its last step
        raise CnnkitError(f"--out {out} is a folder; give the HTML file to write, e.g. {Path(out) / 'report.html'}")
    if not target.is_dir():
        raise CnnkitError(f"{target}: no such directory; give a run, trials or sweep directory")
    kind = kind_of(target)
    path = Path(out) if out else target / "report.html"
    O.check_output(path, O.REPORT)  # the write rule, before the long work: never over a run's or a user's file
    if kind == "run":  # an unfinished run has no summary.json yet, which collect() needs
        variants = [{"name": target.name, "settings": {}, "runs": [str(target)]}]
    else:
        variants = collect([str(target)])
    runs = {v["name"]: [ReportedRun(p, v["name"]) for p in v["runs"] if Path(p, "config.json").exists()] for v in variants}
    every = [r for rs in runs.values() for r in rs]
    if not every:
        raise CnnkitError(f"{target} has no runs yet; run the sweep first")
    O.check_outside(path, [d for r in every for d in O.dataset_folders(r.config.get("dataset"))])
    first = every[0]
    task = (first.summary or {}).get("task") or dataset_task(first.config.get("dataset", "shapes"))
    table = _comparison(target, kind)
    best = _best_run(every, table)
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp)
        sections = [
            _overview(target, kind, first, every, table, best),
            _configuration(kind, first, variants),
            _results(kind, best, table, figures),
            _curves(runs, task, figures),
            _predictions(best, task, figures, device, data_dir),
            _filters(best, figures),
            _environment(best, every),
        ]
    title = f"{first.config.get('model', '?')} on {first.config.get('dataset', '?')}"
    subtitle = {"run": f"run {target}", "trials": f"{len(every)} trials in {target}",
                "sweep": f"sweep {target}: {len(variants)} variants, {len(every)} runs"}[kind]
    page = H.page(f"cnnkit report: {title}", subtitle, sections)
    write_atomic(path, page, O.REPORT)
    return {"report": str(path), "kind": kind, "sections": [s.id for s in sections], "bytes": len(page.encode())}


def _comparison(target: Path, kind: str) -> Optional[dict]:
    """compare()'s table for trials and sweeps with finished runs, else None."""
    if kind == "run":
        return None
    try:
        return compare([str(target)])
    except CnnkitError:  # nothing finished yet: the report says so instead
        return None


def _best_run(every: list[ReportedRun], table: Optional[dict]) -> ReportedRun:
    """The run whose model the report shows: the best trial of the best variant."""
    finished = [r for r in every if r.summary]
    if not finished:
        return every[0]
    if table is None:
        return finished[0]
    metric = table["metric"]
    top = max(table["rows"], key=lambda r: r[metric]["mean"])["variant"]
    candidates = [r for r in finished if r.variant == top and isinstance(r.summary.get(metric), (int, float))] or finished
    return max(candidates, key=lambda r: r.summary.get(metric, float("-inf")))


def _overview(target, kind, first, every, table, best) -> H.Section:
    s = H.Section("overview", "Overview")
    cfg = first.config
    s.blocks.append(H.key_values({"model": cfg.get("model"), "dataset": cfg.get("dataset"), "task": (first.summary or {}).get("task", "-"),
                                  "runs finished": f"{sum(r.summary is not None for r in every)} of {len(every)}",
                                  "epochs": cfg.get("epochs"), "directory": str(target)}))
    if table is not None:
        m = table["metric"]
        top = max(table["rows"], key=lambda r: r[m]["mean"])
        s.blocks.append(H.paragraph(f"Best variant by mean {m}: {top['variant']} ({H.fmt(top[m]['mean'])} +/- {H.fmt(top[m]['std'])} "
                                    f"over {top['runs']} trial(s)). Figures below show its best trial, {best.path}."))
    elif best.summary:
        key = "test_accuracy" if "test_accuracy" in best.summary else "test_dice"
        s.blocks.append(H.paragraph(f"{key}: {H.fmt(best.summary.get(key))} after {best.summary['epochs_run']} epochs "
                                    f"({H.fmt(best.summary['train_seconds'])} s of training on {best.summary.get('device', '?')})."))
    unfinished = [str(r.path) for r in every if r.summary is None]
    if unfinished:
        s.blocks.append(H.note(f"{len(unfinished)} run(s) not finished (no summary.json): {', '.join(unfinished[:5])}"
                               + (" ..." if len(unfinished) > 5 else "") + "; continue them with cnnkit train --resume or re-run the sweep."))
    return s


def _configuration(kind, first, variants) -> H.Section:
    s = H.Section("configuration", "Configuration")
    varied = sorted({k for v in variants for k in v["settings"]})
    if varied:
        s.blocks.append(H.heading("Variants"))
        s.blocks.append(H.table(["variant", *varied, "trials"], [[v["name"], *[v["settings"].get(k, "-") for k in varied], len(v["runs"])]
                                                                 for v in variants]))
    config = {k: v for k, v in first.config.items() if k != "out"}
    if varied:
        s.blocks.append(H.heading("Shared settings (from the first run; varied ones marked)"))
        for k in varied:
            if k in config:
                config[k] = "varied"
            else:
                config.setdefault("model_options", {})[k] = "varied"
    if kind != "run":
        config["seed"] = f"{config.get('seed')} + trial - 1"
    policy = config.get("policy")
    if isinstance(policy, dict) and "choices" in policy:  # one readable line per choice, not a Python dict
        config["policy"] = "; ".join(_policy_choice(c) for c in policy["choices"]) or "-"
    s.blocks.append(H.key_values(config))
    return s


def _policy_choice(c: dict) -> str:
    """One setting the data policy chose, or the flag that overrode it, in words."""
    value = c.get("value")
    value = H.fmt(int(value) if isinstance(value, float) and value.is_integer() else value)  # epochs 2, not 2.0000
    if c.get("source") == "flag" and c.get("policy_value") is not None:
        return f"{c.get('setting')} = {value} (your flag; the policy would pick {H.fmt(c['policy_value'])}: {c.get('reason')})"
    return f"{c.get('setting')} = {value} ({c.get('source')}: {c.get('reason')})"


def _results(kind, best, table, figures: Path) -> H.Section:
    s = H.Section("results", "Results")
    if table is not None:
        m = table["metric"]
        rows = []
        for r in table["rows"]:
            vs = r["vs_baseline"]
            rows.append([r["variant"], r["runs"], r[m]["mean"], r[m]["std"], r[m]["min"], r[m]["max"], r["best_epoch"], r["train_seconds"],
                         "baseline" if vs is None else f"{vs['mean_difference']:+.4f} ({vs['wins']}/{vs['pairs']} better)"])
        top = max(range(len(rows)), key=lambda i: table["rows"][i][m]["mean"])
        s.blocks.append(H.paragraph(f"{m} over trials; the paired difference compares trial k with the baseline's trial k "
                                    "(the same seed). The best mean is highlighted."))
        s.blocks.append(H.table(["variant", "runs", "mean", "std", "min", "max", "best epoch", "train s", f"vs {table['baseline']}"],
                                rows, highlight=top))
        from cnnkit.viz.variants import plot_variant_scores

        png = plot_variant_scores({r["variant"]: r["values"] for r in table["rows"]}, m, figures / "scores.png").read_bytes()
        s.blocks.append(H.figure(png, f"{m} of every trial, per variant"))
    elif kind != "run":
        s.blocks.append(H.note("no finished runs yet: the comparison appears once a run writes summary.json"))
    if best.summary:
        if table is not None:
            s.blocks.append(H.heading(f"Best trial: {best.path}"))
        s.blocks.append(H.table(["metric", "value"], [[k, _shown(best.summary[k])] for k in RUN_METRICS
                                                      if best.summary.get(k) is not None]))
        per_class = best.summary.get("test_per_class_accuracy") or best.summary.get("test_dice_per_class")
        if per_class:
            label = "test accuracy" if "test_per_class_accuracy" in best.summary else "test Dice"
            s.blocks.append(H.table(["class", label], [[k, "no images" if v is None else _shown(v)] for k, v in per_class.items()]))
    elif kind == "run":
        s.blocks.append(H.note("the run has not finished (no summary.json): test metrics appear when it does"))
    return s


def _shown(v):
    """A summary number as the report shows it; anything else is said to be damaged, never shown as a result."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
        return v
    return f"damaged in summary.json ({str(v)[:30]!r}, not a number)"


def _mean_history(runs: list[ReportedRun]) -> list[dict]:
    """Per epoch, the mean of every numeric column over the runs that reached it."""
    epochs = sorted({r["epoch"] for run in runs for r in run.history})
    out = []
    for e in epochs:
        rows = [r for run in runs for r in run.history if r["epoch"] == e]
        keys = {k for r in rows for k, v in r.items() if isinstance(v, (int, float))}
        out.append({k: statistics.fmean(r[k] for r in rows if isinstance(r.get(k), (int, float))) for k in keys} | {"epoch": e})
    return out


def _curves(runs: dict[str, list[ReportedRun]], task: str, figures: Path) -> H.Section:
    from cnnkit.viz.curves import plot_curves

    s = H.Section("curves", "Learning curves")
    histories = {name: _mean_history(rs) for name, rs in runs.items() if any(r.history for r in rs)}
    if not histories:
        s.blocks.append(H.note("no epoch has finished yet (metrics.csv is empty)"))
        return s
    rows = [r for h in histories.values() for r in h]
    metric = "accuracy" if task == "classification" else ("dice" if any("val_dice" in r for r in rows) else "pixel_accuracy")
    trials = max(len(rs) for rs in runs.values())
    png = plot_curves(histories, figures / "curves.png", metric=metric).read_bytes()
    has_val = any(k.startswith("val_") and isinstance(v, (int, float)) and v == v for r in rows for k, v in r.items())
    caption = "loss and " + metric + " per epoch; " + (
        "solid: validation, dashed: training" if has_val else "training only (the run had no validation split)")
    s.blocks.append(H.figure(png, caption + (f"; each line the mean over a variant's trials (up to {trials})" if trials > 1 else "")))
    return s


def _predictions(best: ReportedRun, task: str, figures: Path, device: str, data_dir: Optional[str]) -> H.Section:
    if task == "classification":
        s = H.Section("predictions", "Confusion matrix")
        cm = (best.summary or {}).get("test_confusion_matrix")
        if cm is None:
            s.blocks.append(H.note("not recorded: the run has not finished, or predates cnnkit recording it; "
                                   f"cnnkit evaluate {best.path / 'best.pt'} draws one"))
            return s
        import torch

        from cnnkit.viz.confusion import plot_confusion

        names = list(best.summary["test_per_class_accuracy"])
        png = plot_confusion(torch.tensor(cm), names, figures / "confusion.png").read_bytes()
        s.blocks.append(H.figure(png, f"test split of {best.path}, best checkpoint; rows: true class, cells: image counts"))
        return s
    s = H.Section("predictions", "Segmentation examples")
    if best.checkpoint is None:
        s.blocks.append(H.note("no checkpoint yet"))
        return s
    try:
        from cnnkit.engine.inference import load_for_inference
        from cnnkit.viz.segment_data import segmentation_examples
        from cnnkit.viz.segmentation import plot_segmentation

        ckpt, model, dev = load_for_inference(best.checkpoint, device)
        examples = segmentation_examples(ckpt, model, dev, data_dir)
    except CnnkitError as e:  # the data may have moved since training: the rest of the report still stands
        s.blocks.append(H.note(f"the test images could not be loaded: {e}"))
        return s
    ignore = ckpt.ignore_index
    if examples:
        s.blocks.append(H.paragraph(f"The best, median and worst of all {examples[0]['images']} test images by the image's "
                                    "macro Dice (the numbers `cnnkit evaluate` writes per image), in the colours of "
                                    "`cnnkit visualize segmentation` and `cnnkit predict`" + ("; grey: ignored pixels." if ignore is not None else ".")))
    for i, ex in enumerate(examples):
        path = plot_segmentation(ex["image"], ex["pred"], figures / f"seg{i}.png", ckpt.class_names, ex["truth"], ex["scores"],
                                 ignore_index=ignore)
        s.blocks.append(H.figure(path.read_bytes(), f"{ex['label']} test image by Dice (rank {ex['rank']} of {ex['images']}): {ex['file']}"))
    return s


def _filters(best: ReportedRun, figures: Path) -> H.Section:
    """The model's first conv layer (the registry's, or the first in the network), as `cnnkit visualize filters` draws it."""
    from cnnkit.engine.inference import load_for_inference
    from cnnkit.models.source import first_conv, layer_hints
    from cnnkit.viz.filters import conv_weights, plot_filters

    s = H.Section("filters", "First-layer filters")
    if best.checkpoint is None:
        s.blocks.append(H.note("no checkpoint yet"))
        return s
    try:
        ckpt, model, _ = load_for_inference(best.checkpoint, "cpu")
        name = first_conv(model, layer_hints(ckpt.model_record)[0])
        weights = conv_weights(model, name)  # (O, C, kh, kw)
    except CnnkitError as e:  # a damaged checkpoint spoils this section, not the report
        s.blocks.append(H.note(str(e)))
        return s
    png = plot_filters(weights[:64], figures / "filters.png", title=f"{name} of {best.checkpoint.name}").read_bytes()
    shown = "" if len(weights) <= 64 else f" (the first 64 of {len(weights)})"
    s.blocks.append(H.figure(png, f"{name}: {tuple(weights.shape)} weights{shown}, from {best.checkpoint}"))
    return s


def _environment(best: ReportedRun, every: list[ReportedRun]) -> H.Section:
    import torch

    from cnnkit.engine.device import environment

    s = H.Section("environment", "Environment and reproduction")
    recorded = (best.summary or {}).get("environment")
    if recorded:
        command = recorded.pop("command", None)
        s.blocks.append(H.paragraph(f"Recorded by the run {best.path} when it finished:"))
        s.blocks.append(H.key_values(recorded))
        if command:
            s.blocks.append(H.heading("Command"))
            s.blocks.append(H.code(command))
    else:
        s.blocks.append(H.note("the run did not record its environment (unfinished, or from an older cnnkit)"))
    seeds = sorted({r.config.get("seed") for r in every if r.config.get("seed") is not None})
    s.blocks.append(H.paragraph(f"Seeds: {', '.join(map(str, seeds))}. Every setting of each run is in its config.json; "
                                "the same settings and seed give the same batches and augmentation on any device."))
    now = environment(torch.device("cpu"))
    s.blocks.append(H.paragraph(f"Report made {datetime.datetime.now().isoformat(timespec='seconds')} with cnnkit {now['cnnkit']}, "
                                f"torch {now['torch']}, Python {now['python']}."))
    return s
