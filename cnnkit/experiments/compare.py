"""Comparison tables over runs and sweeps: mean, std, min, max per variant, and a
paired comparison against a baseline variant (trial k against trial k, same seed)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Optional

from cnnkit.errors import CnnkitError


def collect(paths: list[str]) -> list[dict]:
    """[{'name', 'settings', 'summaries': [summary.json dicts], 'runs': [...]}] from run,
    trials or sweep directories. A damaged file is named, never skipped silently."""
    variants = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise CnnkitError(f"{p} is not a folder; give run, trials or sweep directories" if p.exists()
                              else f"{p} does not exist; give run, trials or sweep directories")
        if (p / "sweep.json").exists():
            sweep = _read(p / "sweep.json", "variants")
            for v in sweep["variants"]:
                if not isinstance(v, dict) or not {"name", "runs"} <= set(v):
                    raise CnnkitError(f"{p / 'sweep.json'} is damaged (a variant without name or runs); re-run the sweep")
                variants.append({"name": v["name"], "settings": v.get("settings", {}), "runs": v["runs"]})
        elif (p / "trials.json").exists():
            t = _read(p / "trials.json", "runs")
            variants.append({"name": p.name, "settings": {}, "runs": t["runs"]})
        elif (p / "summary.json").exists():
            variants.append({"name": p.name, "settings": {}, "runs": [str(p)]})
        else:
            raise CnnkitError(f"{p} is not a run, trials or sweep directory (no summary.json, trials.json or sweep.json)")
    for v in variants:
        v["summaries"] = []
        for r in v["runs"]:
            f = Path(r) / "summary.json"
            if f.exists():
                v["summaries"].append(_read(f, "task", "epochs_run", "train_seconds"))
    return variants


def _read(path: Path, *required: str) -> dict:
    """A JSON file cnnkit wrote, with the keys that are read from it; CnnkitError naming it otherwise."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CnnkitError(f"{path} is corrupt ({getattr(e, 'msg', type(e).__name__)}); "
                          "restore it, re-run that run, or leave its folder out") from None
    if not isinstance(data, dict) or any(k not in data for k in required):
        missing = ", ".join(k for k in required if not isinstance(data, dict) or k not in data)
        raise CnnkitError(f"{path} is not a complete cnnkit file (missing {missing}); re-run that run, or leave its folder out")
    return data


def _stats(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def compare(paths: list[str], metric: Optional[str] = None, baseline: Optional[str] = None) -> dict:
    variants = [v for v in collect(paths)]
    done = [v for v in variants if v["summaries"]]
    if not done:
        raise CnnkitError("no finished runs to compare (no summary.json yet); finish the runs or the sweep first")
    task = done[0]["summaries"][0]["task"]
    metric = metric or ("test_accuracy" if task == "classification" else "test_dice")
    rows = []
    for v in done:
        values = [x for x in (metric_value(s, metric) for s in v["summaries"]) if x is not None]
        damaged = [s[metric] for s in v["summaries"] if s.get(metric) is not None and not _number(s[metric])]
        if damaged:  # present but not a number: the file was edited or damaged, not "no such metric"
            raise CnnkitError(f"{v['name']}: {metric!r} in its summary.json is {str(damaged[0])[:40]!r}, not a number; "
                              "the file is damaged: restore it, re-run that run, or leave its folder out")
        if not values:
            raise CnnkitError(f"{v['name']}: no {metric!r} in its summaries; choose --metric from "
                              f"{metric_choices(v['summaries'][0])}")
        row = {"variant": v["name"], "settings": v["settings"], "runs": len(v["summaries"]), "pending": len(v["runs"]) - len(v["summaries"]),
               metric: _stats(values), "values": values,
               "best_epoch": statistics.fmean(s.get("best_epoch", s["epochs_run"]) for s in v["summaries"]),
               "train_seconds": statistics.fmean(s["train_seconds"] for s in v["summaries"])}
        rows.append(row)
    base = next((r for r in rows if r["variant"] == baseline), None) if baseline else rows[0]
    if baseline and base is None:
        raise CnnkitError(f"--baseline {baseline!r} is not a variant; variants: {', '.join(r['variant'] for r in rows)}")
    for r in rows:
        pairs = list(zip(r["values"], base["values"]))  # trial k vs trial k: the same seed
        diffs = [a - b for a, b in pairs]
        r["vs_baseline"] = None if r is base or not diffs else {
            "mean_difference": statistics.fmean(diffs), "std_difference": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
            "wins": sum(d > 0 for d in diffs), "pairs": len(diffs)}
    return {"task": task, "metric": metric, "baseline": base["variant"], "rows": rows}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def metric_value(summary: dict, key: str) -> Optional[float]:
    """A number from summary.json: a scalar key (test_dice_min), or one class of a
    per-class table as KEY.CLASS (test_per_class_accuracy.cat, test_dice_per_class.road).
    None when the run has no such number (a class absent from its test images)."""
    v = summary.get(key)
    if v is None and "." in key:
        table, _, name = key.partition(".")
        v = summary.get(table, {}).get(name) if isinstance(summary.get(table), dict) else None
    return float(v) if _number(v) else None


def metric_names(summary: dict) -> tuple[list[str], list[str]]:
    """(scalar metrics, per-class tables) of a summary: what --metric accepts. The
    confusion matrix and other non-numbers are neither."""
    keys = [k for k in summary if k.startswith(("test_", "best_"))]
    scalars = [k for k in keys if _number(summary[k])]
    tables = [k for k in keys if isinstance(summary[k], dict) and summary[k] and all(_number(x) or x is None for x in summary[k].values())]
    return scalars, tables


def metric_choices(summary: dict) -> str:
    scalars, tables = metric_names(summary)
    text = ", ".join(scalars) or "none"
    if tables:
        example = next(iter(summary[tables[0]]))
        text += f"; one class of {', '.join(tables)} as KEY.CLASS (e.g. {tables[0]}.{example})"
    return text


def to_markdown(result: dict) -> str:
    m = result["metric"]
    lines = [f"| variant | runs | {m} mean | std | min | max | best epoch | train s | vs {result['baseline']} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        s = r[m]
        vs = "baseline" if r["vs_baseline"] is None else f"{r['vs_baseline']['mean_difference']:+.4f} ({r['vs_baseline']['wins']}/{r['vs_baseline']['pairs']} better)"
        lines.append(f"| {r['variant']} | {r['runs']} | {s['mean']:.4f} | {s['std']:.4f} | {s['min']:.4f} | {s['max']:.4f} | "
                     f"{r['best_epoch']:.1f} | {r['train_seconds']:.1f} | {vs} |")
    return "\n".join(lines) + "\n"


def to_csv(result: dict) -> str:
    import csv
    import io

    m = result["metric"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["variant", "runs", f"{m}_mean", f"{m}_std", f"{m}_min", f"{m}_max", "best_epoch", "train_seconds", "vs_baseline_mean_difference"])
    for r in result["rows"]:
        s = r[m]
        w.writerow([r["variant"], r["runs"], f"{s['mean']:.6f}", f"{s['std']:.6f}", f"{s['min']:.6f}", f"{s['max']:.6f}",
                    f"{r['best_epoch']:.2f}", f"{r['train_seconds']:.2f}",
                    "" if r["vs_baseline"] is None else f"{r['vs_baseline']['mean_difference']:.6f}"])
    return buf.getvalue()
