"""`cnnkit train MODEL --dataset D` with nothing else, on real data, against other settings
of the same length: does the data-aware default policy choose well?

    python benchmarks/defaults_real_data.py [--only mnist|membrane] [--seeds 0,1]

* MNIST from the class folder ../shared/data/mnist (4,000 train / 1,000 test digits):
  `lenet5` and `convnet` at the defaults, then alternatives with the same number of
  epochs as the defaults ran (--epochs fixed): the old default flips, another batch
  size, Adam, more translation. Target: defaults within 1 point of the best.
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
    ("old default augmentation: flip,translate=2", ["--augment", "flip,translate=2"]),
    ("batch 128 (the recipe's)", ["--batch-size", "128"]),
    ("batch 32", ["--batch-size", "32"]),
    ("translate=3", ["--augment", "translate=3"]),
    ("no augmentation", ["--augment", "none"]),
    ("adam (lr from the optimiser)", ["--optimizer", "adam"]),
]


def run(model: str, dataset: str, extra: list[str], seed: int, tmp: str) -> dict:
    out = f"{tmp}/{model}-{abs(hash((dataset, tuple(extra), seed)))}"
    cmd = [sys.executable, "-m", "cnnkit", "train", model, "--dataset", dataset, "--seed", str(seed), *extra,
           "--out", out, "--data-dir", f"{tmp}/cache", "--json"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    summary = json.loads(p.stdout)
    summary["wall"] = time.perf_counter() - t
    summary["config"] = json.loads(Path(out, "config.json").read_text())
    return summary


def score(s: dict) -> float:
    return s["test_accuracy"] if s["task"] == "classification" else s["test_dice"]


def table(rows: list[tuple[str, list[dict]]]) -> None:
    print("| setting | epochs | batch | augment | test score (median) | per seed | training s (median) |")
    print("|---|---|---|---|---|---|---|")
    for label, runs in rows:
        c = runs[0]["config"]
        scores = [score(r) for r in runs]
        print(f"| {label} | {c['epochs']} | {c['batch_size']} | {c['augment']} | **{statistics.median(scores):.4f}** | "
              f"{', '.join(f'{v:.4f}' for v in scores)} | {statistics.median(r['train_seconds'] for r in runs):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["mnist", "membrane"], default=None)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--models", default=None, help="comma-separated subset of the models")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = set(args.models.split(",")) if args.models else None
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "mnist"):
            for model in ("lenet5", "convnet"):
                if wanted and model not in wanted:
                    continue
                dataset = f"folder:{DATA / 'mnist'}"
                rows = [("defaults", [run(model, dataset, [], s, tmp) for s in seeds])]
                epochs = str(rows[0][1][0]["config"]["epochs"])
                for label, extra in MNIST_VARIANTS[1:]:
                    rows.append((label, [run(model, dataset, [*extra, "--epochs", epochs], s, tmp) for s in seeds]))
                print(f"\n{model} on {dataset} (test accuracy on 1,000 digits)\n")
                table(rows)
                best = max(statistics.median(score(r) for r in runs) for _, runs in rows)
                print(f"\ndefaults {statistics.median(score(r) for r in rows[0][1]):.4f}, best {best:.4f}")
        if args.only in (None, "membrane"):
            for model in ("unet", "fcn"):
                if wanted and model not in wanted:
                    continue
                dataset = f"segfolder:{DATA / 'membrane'}"
                runs = [run(model, dataset, [], s, tmp) for s in seeds]
                print(f"\n{model} on {dataset} (pooled macro Dice on the 6 test slices)\n")
                table([("defaults", runs)])


if __name__ == "__main__":
    main()
