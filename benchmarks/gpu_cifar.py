"""CIFAR-10 on one GPU: the coursework loop vs cnnkit's speed-run path, in one run.

    python benchmarks/gpu_cifar.py [--runs 3] [--device cuda] [--root ../shared/data/cifar10]
    python benchmarks/gpu_cifar.py --device cpu --epochs 1 --runs 1     # the same path on a CPU (slow)

1. Baseline: the loop of ../shared/bench/coursework_baseline.py (its Net2, ImageFolder +
   per-sample transforms + DataLoader with 2 workers, fp32, SGD), with the model and each
   batch moved to the same device; images/s over 100 timed batches after 5 warm-up
   batches, as the original script times them.
2. cnnkit: `cnnkit train airbench --recipe cifar-speedrun --val-split 0` on the whole
   training set: airbench94's method (fp16 weights, channels_last, alternating flips,
   whitening bias frozen after 3 epochs, lookahead, 64x bias lr, BN momentum 0.4, 9.9
   epochs, six-view TTA), the uint8 dataset on the GPU, augmentation on whole batches.
   Eager by default (torch.compile costs more than it saves in one CLI run); --compile
   to compare. A first one-epoch run fills the data (and compile) caches and is not
   counted; then `--runs` timed runs with seeds 0..R-1. Per run: train_seconds (the
   training epochs, as summary.json has them), warmup_seconds (epoch 1 beyond the steady
   rate: cuDNN autotuning, compilation), the wall time of the whole command, images/s and
   the test accuracy. Time-to-94% is the training time of runs that reach 0.94 (on the
   JPEG copy in ../shared/data, airbench94 itself reaches about 90.6%, so expect none).

`--extra "--no-lookahead"` passes options through, to measure one element at a time.
Prints medians over runs and the device name; docs/benchmarks.md records the figures.
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

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"


def baseline_rate(root: Path, device: str, batches: int = 100) -> float:
    """coursework_baseline.py's loop on `device`: images/s over `batches` timed batches."""
    import torch
    import torch.nn as nn
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    torch.manual_seed(0)
    tf = T.Compose([T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,) * 3, (0.25,) * 3)])
    dl = DataLoader(ImageFolder(f"{root}/train", tf), batch_size=64, shuffle=True, num_workers=2)

    def block(i, o):
        return [nn.Conv2d(i, o, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.05)]

    net = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(2048, 64), nn.ReLU(),
                        nn.Linear(64, 10)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=5e-2)
    lossf = nn.CrossEntropyLoss()

    def step(x, y):
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        lossf(net(x), y).backward()
        opt.step()

    def batches_forever():  # a small --root runs out before 105 batches
        while True:
            yield from dl

    it = batches_forever()
    for _ in range(5):
        step(*next(it))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t, n = time.perf_counter(), 0
    for _ in range(batches):
        x, y = next(it)
        step(x, y)
        n += len(y)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def cnnkit_run(root: Path, device: str, seed: int, epochs: float | None, tmp: Path, compile_: bool, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "cnnkit", "train", "airbench", "--dataset", f"folder:{root}", "--recipe", "cifar-speedrun",
           "--val-split", "0", "--device", device, "--seed", str(seed), "--out", str(tmp / f"run{seed}"), "--overwrite",
           "--data-dir", str(tmp / "data"), "--json", "-q", *extra]
    if compile_:
        cmd.append("--compile")
    if epochs:
        cmd += ["--epochs", str(epochs)]
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    summary = json.loads(out)
    warmup = summary.get("warmup_seconds", 0.0)
    return {"test_accuracy": summary["test_accuracy"], "train_seconds": summary["train_seconds"], "warmup_seconds": warmup,
            "train_seconds_without_warmup": summary["train_seconds"] - warmup, "wall_seconds": wall,
            "images_per_second": summary["train_images_per_second"],
            "steady_images_per_second": summary.get("steady_images_per_second"), "model_dtype": summary.get("model_dtype"),
            "device": summary["environment"]["device_name"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(SHARED / "data" / "cifar10"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=None, help="Override the recipe's 9.9 epochs (e.g. 1 for a CPU check).")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (not paid back in one run; see docs).")
    ap.add_argument("--extra", default="", help='Options passed to cnnkit train, e.g. "--no-lookahead --tta-level mirror".')
    args = ap.parse_args()
    root = Path(args.root)
    rate = baseline_rate(root, args.device)
    print(f"baseline (coursework loop on {args.device}): {rate:.0f} img/s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        extra = args.extra.split()
        cnnkit_run(root, args.device, 99, 1, tmp, args.compile, extra)  # fills the data (and compile) caches; not counted
        runs = [cnnkit_run(root, args.device, seed, args.epochs, tmp, args.compile, extra) for seed in range(args.runs)]
    for r in runs:
        print(json.dumps(r))
    med = lambda k: statistics.median(r[k] for r in runs)
    reached = [r["train_seconds_without_warmup"] for r in runs if r["test_accuracy"] >= 0.94]
    print(f"device: {runs[0]['device']}")
    print(f"cnnkit airbench/cifar-speedrun: median test accuracy {med('test_accuracy'):.4f}, training {med('train_seconds'):.2f} s "
          f"({med('train_seconds_without_warmup'):.2f} s without the {med('warmup_seconds'):.2f} s warm-up in epoch 1), "
          f"whole command {med('wall_seconds'):.1f} s wall, "
          f"{med('images_per_second'):.0f} img/s = {med('images_per_second') / rate:.1f}x the baseline loop")
    print(f"time to 94%: {statistics.median(reached):.2f} s (median of {len(reached)}/{len(runs)} runs that reached it)" if reached
          else f"time to 94%: not reached in {len(runs)} runs")


if __name__ == "__main__":
    main()
