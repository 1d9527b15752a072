"""Data-parallel training on CPU (gloo): 1 process vs 2 processes, same global batch.

    python benchmarks/distributed_cpu.py [--seeds 3] [--model airbench] [--data shapes:n=3000] [--epochs 3]

Trains the same configuration with seeds 0..S-1, once in one process and once with
`--nproc 2` (torchrun, gloo, one thread each), and prints each run's test accuracy, the
mean and std per world size, the difference of the means against the seed-to-seed
spread, and the test images counted (must equal the test split's size). The model has
batch norm and the recipe augments, so the two are equal in distribution, not bit for
bit (tests/engine/test_distributed.py checks the bit-for-bit case). On a 2-core machine
two processes are not faster: this measures correctness, not speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(args, seed: int, nproc: int, tmp: str) -> dict:
    cmd = [sys.executable, "-m", "cnnkit", "train", args.model, "-d", args.data, "--epochs", str(args.epochs), "--device", "cpu",
           "--seed", str(seed), "--out", f"{tmp}/p{nproc}-s{seed}", "--data-dir", f"{tmp}/data", "--json", "-q"]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    s = json.loads(out)
    return {"seed": seed, "processes": s["processes"], "test_accuracy": s["test_accuracy"],
            "test_images": sum(map(sum, s["test_confusion_matrix"])), "train_seconds": s["train_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--model", default="airbench")
    ap.add_argument("--data", default="shapes:n=3000")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: [run(args, s, n, tmp) for s in range(args.seeds)] for n in (1, 2)}
    for r in results[1] + results[2]:
        print(json.dumps(r))
    acc = {n: [r["test_accuracy"] for r in rs] for n, rs in results.items()}
    for n in (1, 2):
        print(f"{n} process(es): test accuracy mean {statistics.fmean(acc[n]):.4f} std {statistics.stdev(acc[n]):.4f} "
              f"over seeds {list(range(args.seeds))}; median training {statistics.median(r['train_seconds'] for r in results[n]):.1f} s")
    diff = statistics.fmean(acc[2]) - statistics.fmean(acc[1])
    spread = statistics.stdev(acc[1] + acc[2])
    counts = {r["test_images"] for rs in results.values() for r in rs}
    print(f"difference of means (2 - 1): {diff:+.4f}; seed-to-seed std {spread:.4f}; test images counted per run: {sorted(counts)}")


if __name__ == "__main__":
    main()
