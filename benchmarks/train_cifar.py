"""CIFAR-10 training on the shared JPEG folder: cnnkit vs the coursework baseline loop.

    python benchmarks/train_cifar.py net2 [--epochs 3]   # (a) the CIFAR-10 coursework's Net2 setup, both in one run
    python benchmarks/train_cifar.py fast [--model speednet-cpu] [--recipe R] [--extra "..."]   # (b) the CPU goal

(a) runs ../shared/bench/coursework_baseline.py (ImageFolder + per-sample transforms +
DataLoader with 2 workers, plain fp32 loop; it times 100 batches and prints the test
accuracy after each epoch), then `cnnkit train convnet-net2` with the same setup: SGD
lr 5e-2 without momentum, batch 64, horizontal flip, the same number of epochs, no
validation split (the baseline has none). images/s for cnnkit is its train_images /
train_seconds over whole epochs.

(b) is the CPU goal as a user meets it: `cnnkit train speednet-cpu --dataset
folder:../shared/data/cifar10` with nothing else (the recipe chosen by the data) unless
--recipe / --extra say otherwise; it prints the per-epoch metrics, the test accuracy, the
training time and the wall time of the whole command (start-up, JPEG decoding on a cold
cache, validation, the final TTA test). About 15 minutes on 2 cores: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"


def run(cmd: list[str]) -> tuple[str, float]:
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout, time.perf_counter() - t


def net2(root: Path, epochs: int) -> None:
    base_out, base_wall = run([sys.executable, str(SHARED / "bench" / "coursework_baseline.py"), str(root), "100", str(epochs)])
    base_rate = float(re.search(r"train_throughput_img_s ([\d.]+)", base_out).group(1))
    base_acc = [float(a) for a in re.findall(r"test_acc ([\d.]+)", base_out)]
    with tempfile.TemporaryDirectory() as tmp:
        out, wall = run([sys.executable, "-m", "cnnkit", "train", "convnet-net2", "--dataset", f"folder:{root}", "--recipe", "plain",
                         "--epochs", str(epochs), "--val-split", "0", "--batch-size", "64", "--lr", "0.05", "--optimizer", "sgd",
                         "--momentum", "0", "--augment", "flip", "--out", f"{tmp}/run", "--data-dir", f"{tmp}/data", "--json"])
        summary = json.loads(out)
    print(f"baseline: {base_rate:.0f} img/s (100 timed batches), test accuracy per epoch {base_acc}, wall {base_wall:.0f} s")
    print(f"cnnkit:   {summary['train_images_per_second']:.0f} img/s (whole epochs), test accuracy {summary['test_accuracy']:.4f}, "
          f"wall {wall:.0f} s (incl. first JPEG decode)")
    print(f"speed ratio {summary['train_images_per_second'] / base_rate:.2f}x; accuracy difference {summary['test_accuracy'] - base_acc[-1]:+.4f}")


def fast(root: Path, model: str, epochs: float | None, recipe: str | None, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cnnkit", "train", model, "--dataset", f"folder:{root}", "--out", f"{tmp}/run",
               "--data-dir", f"{tmp}/data", "--json", *extra]
        if epochs:
            cmd += ["--epochs", str(epochs)]
        if recipe:
            cmd += ["--recipe", recipe]
        out, wall = run(cmd)
        summary = json.loads(out)
        metrics = (Path(tmp) / "run" / "metrics.csv").read_text()
        chosen = json.loads((Path(tmp) / "run" / "config.json").read_text())["recipe"]
    print(metrics)
    print(f"{model} with the {chosen} recipe: test accuracy {summary['test_accuracy']:.4f}, best val {summary['best_val_accuracy']:.4f}, "
          f"{summary['epochs_run']} epochs, training {summary['train_seconds']:.0f} s, {summary['train_images_per_second']:.0f} img/s, "
          f"wall {wall:.0f} s (incl. JPEG decode, start-up, evaluation)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["net2", "fast"])
    ap.add_argument("--root", default=str(SHARED / "data" / "cifar10"))
    ap.add_argument("--epochs", type=float, default=None)
    ap.add_argument("--model", default="speednet-cpu")
    ap.add_argument("--recipe", default=None, help="fast: a recipe instead of the one the data chooses")
    ap.add_argument("--extra", default="", help='fast: more cnnkit train options, e.g. "--no-lookahead"')
    args = ap.parse_args()
    if args.mode == "net2":
        net2(Path(args.root), int(args.epochs or 3))
    else:
        fast(Path(args.root), args.model, args.epochs, args.recipe, args.extra.split())


if __name__ == "__main__":
    main()
