"""U-Net on the ISBI 2012 membrane slices (../shared/data/membrane), CPU.

    python benchmarks/train_membrane.py [--epochs 100] [--base-width 16] [--crop 256]

30 image/mask pairs (0 = membrane, 255 = cell interior, mapped to classes 0/1). The
held-out test split is 20% (6 slices), validation 10% of the rest; training uses
random 256x256 crops at full resolution with both flips, evaluation whole 512x512
slices. Reports pooled per-class Dice on the test slices and the per-slice spread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(SHARED / "data" / "membrane"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--base-width", type=int, default=16)
    ap.add_argument("--crop", default="256")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--keep", default=None, help="Keep the run directory here.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or f"{tmp}/run"
        cmd = [sys.executable, "-m", "cnnkit", "train", "unet", "--dataset", f"segfolder:{args.root}", "--opt", f"base_width={args.base_width}",
               "--crop", args.crop, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--out", out,
               "--data-dir", f"{tmp}/data", "--json"]
        t = time.perf_counter()
        summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        wall = time.perf_counter() - t
        ev = json.loads(subprocess.run([sys.executable, "-m", "cnnkit", "evaluate", f"{out}/best.pt", "--json", "--out", tmp],
                                       check=True, capture_output=True, text=True).stdout)
    print(" ".join(cmd[2:]))
    print(f"test Dice per class (pooled over the 6 test slices): {summary['test_dice_per_class']}")
    print(f"test macro Dice {summary['test_dice']:.4f}, IoU {summary['test_iou']:.4f}, pixel accuracy {summary['test_pixel_accuracy']:.4f}")
    print(f"per-slice macro Dice: mean {ev['dice_mean']:.4f} std {ev['dice_std']:.4f} min {ev['dice_min']:.4f} max {ev['dice_max']:.4f}")
    print(f"best epoch {summary['best_epoch']} of {summary['epochs_run']}; training {summary['train_seconds']:.0f} s; wall {wall:.0f} s")


if __name__ == "__main__":
    main()
