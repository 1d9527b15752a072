"""Every registered classification model on the built-in `shapes` data for 2 epochs at
the defaults: does each one clearly learn (chance is 0.25)?

    python benchmarks/shapes_every_model.py [--epochs 2] [--models convnet,lenet5] [--seeds 0]

Each run is `cnnkit train MODEL --dataset shapes --epochs 2 --json` in its own process,
with nothing else set: the recipe, batch, augmentation and precision are the ones the
data policy picks. The table gives test accuracy (median over seeds) and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from cnnkit.registry import list_models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", default="2")
    ap.add_argument("--models", default=None, help="comma-separated subset (default: every classification model)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--dataset", default="shapes")
    args = ap.parse_args()
    models = args.models.split(",") if args.models else list_models(task="classification")
    print(f"{args.dataset}, {args.epochs} epochs, defaults (chance 0.25)\n\n| model | test accuracy (median) | per seed | wall s (median) |\n|---|---|---|---|",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            scores, walls = [], []
            for seed in args.seeds.split(","):
                t = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "cnnkit", "train", model, "--dataset", args.dataset, "--epochs", args.epochs,
                                    "--seed", seed, "--out", f"{tmp}/{model}-{seed}", "--data-dir", f"{tmp}/cache", "--json"],
                                   capture_output=True, text=True)
                walls.append(time.perf_counter() - t)
                if p.returncode:
                    print(f"| {model} | failed: {p.stderr.strip().splitlines()[-1]} | | |", flush=True)
                    break
                scores.append(json.loads(p.stdout)["test_accuracy"])
            if scores:
                print(f"| `{model}` | **{statistics.median(scores):.3f}** | {', '.join(f'{s:.3f}' for s in scores)} | "
                      f"{statistics.median(walls):.0f} |", flush=True)


if __name__ == "__main__":
    main()
