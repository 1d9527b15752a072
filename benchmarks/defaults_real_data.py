"""`cnnkit train MODEL --dataset D` with nothing else, on real data, against other settings
of the same length: does the data-aware default policy choose well?

    python benchmarks/defaults_real_data.py [--only mnist|membrane] [--seeds 0,1]

* MNIST from the class folder ../shared/data/mnist (4,000 train / 1,000 test digits):
  `lenet5` and `convnet` at the defaults, then alternatives with the same number of
  epochs as the defaults ran (--epochs fixed): the old default flips, another batch
  size, Adam, more translation. Target: defaults within 1 point of the best.
* CIFAR-10 from the class folder ../shared/data/cifar10 (50,000 train / 10,000 test) with
  the coursework's plain `convnet` (no batch norm): the defaults (recipe `default`,
  gradient clipping at 2) against no clipping and against the CIFAR speed recipe it got
  before (`cifar-fast`, lr 0.4), all at the defaults' 10 epochs.
* Membrane (segfolder:../shared/data/membrane, 30 slices of 512x512): `unet` and `fcn`
  at the defaults. Target: test macro Dice >= 0.85 (unet) and >= 0.75 (fcn).

Every run is a separate `cnnkit train ... --json` process; the table gives test accuracy
or pooled macro Dice, the median over the seeds, and the training seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MNIST_VARIANTS = [  # (label, extra flags); the defaults first
    ("defaults", []),
    ("before the policy: flip,translate=2, batch 128", ["--augment", "flip,translate=2", "--batch-size", "128"]),
    ("batch 128 (the recipe's)", ["--batch-size", "128"]),
    ("batch 32", ["--batch-size", "32"]),
    ("translate=3", ["--augment", "translate=3"]),
    ("no augmentation", ["--augment", "none"]),
    ("adam (lr from the optimiser)", ["--optimizer", "adam"]),
    ("lr 0.1 (twice the recipe's)", ["--lr", "0.1"]),
    ("lr 0.02", ["--lr", "0.02"]),
]

CIFAR_VARIANTS = [
    ("defaults", []),
    ("no gradient clipping", ["--grad-clip", "0"]),
    ("recipe cifar-fast (the default before the policy read the model)", ["--recipe", "cifar-fast"]),
]


def run(model: str, dataset: str, extra: list[str], seed: int, tmp: str, may_fail: bool = False) -> dict:
    out = f"{tmp}/{model}-{abs(hash((dataset, tuple(extra), seed)))}"
    cmd = [sys.executable, "-m", "cnnkit", "train", model, "--dataset", dataset, "--seed", str(seed), *extra,
           "--out", out, "--data-dir", f"{tmp}/cache", "--json"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode and may_fail:
        return {"failed": p.stderr.strip().splitlines()[-1]}
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    summary = json.loads(p.stdout)
    summary["wall"] = time.perf_counter() - t
    summary["config"] = json.loads(Path(out, "config.json").read_text())
    return summary


def score(s: dict) -> float:
    return s["test_accuracy"] if s["task"] == "classification" else s["test_dice"]


HEADER = ("| setting | epochs | batch | augment | optimizer, lr | test score (median) | per seed | training s (median) |\n"
          "|---|---|---|---|---|---|---|---|")


def row(label: str, runs: list[dict]) -> str:
    """One table row, printed as soon as its runs finish (a slow machine still shows progress)."""
    failed = [r["failed"] for r in runs if "failed" in r]
    if failed:
        return f"| {label} | | | | | failed: {failed[0]} | | |"
    c = runs[0]["config"]
    scores = [score(r) for r in runs]
    return (f"| {label} | {c['epochs']} | {c['batch_size']} | {c['augment']} | {c['optimizer']} {c['lr']:g} | "
            f"**{statistics.median(scores):.4f}** | {', '.join(f'{v:.4f}' for v in scores)} | "
            f"{statistics.median(r['train_seconds'] for r in runs):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["mnist", "cifar", "membrane"], default=None)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--models", default=None, help="comma-separated subset of the models")
    ap.add_argument("--epochs", type=int, default=None, help="MNIST: every setting, the defaults too, at this many epochs")
    ap.add_argument("--variants", default=None, help="MNIST: comma-separated indexes into MNIST_VARIANTS (0 = defaults)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = set(args.models.split(",")) if args.models else None
    variants = [MNIST_VARIANTS[int(i)] for i in args.variants.split(",")] if args.variants else MNIST_VARIANTS
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "mnist"):
            for model in ("lenet5", "convnet"):
                if wanted and model not in wanted:
                    continue
                dataset = f"folder:{DATA / 'mnist'}"
                print(f"\n{model} on {dataset} (test accuracy on 1,000 digits)\n\n{HEADER}", flush=True)
                epochs = args.epochs
                best = {}
                for label, extra in variants:
                    flags = [*extra, *(["--epochs", str(epochs)] if epochs else [])]
                    runs = [run(model, dataset, flags, s, tmp) for s in seeds]
                    epochs = epochs or runs[0]["config"]["epochs"]  # the others run as long as the defaults did
                    best[label] = statistics.median(score(r) for r in runs)
                    print(row(label, runs), flush=True)
                print(f"\nbest: {max(best, key=best.get)} {max(best.values()):.4f}", flush=True)
        if args.only in (None, "cifar") and (not wanted or "convnet" in wanted):
            dataset = f"folder:{DATA / 'cifar10'}"
            print(f"\nconvnet on {dataset} (test accuracy on 10,000 images)\n\n{HEADER}", flush=True)
            epochs = args.epochs
            for label, extra in CIFAR_VARIANTS:
                flags = [*extra, *(["--epochs", str(epochs)] if epochs else [])]
                runs = [run("convnet", dataset, flags, s, tmp, may_fail=True) for s in seeds]
                epochs = epochs or runs[0]["config"]["epochs"]
                print(row(label, runs), flush=True)
        if args.only in (None, "membrane"):
            for model in ("unet", "fcn"):
                if wanted and model not in wanted:
                    continue
                dataset = f"segfolder:{DATA / 'membrane'}"
                runs = [run(model, dataset, [], s, tmp) for s in seeds]
                print(f"\n{model} on {dataset} (pooled macro Dice on the 6 test slices)\n\n{HEADER}\n{row('defaults', runs)}", flush=True)


if __name__ == "__main__":
    main()
