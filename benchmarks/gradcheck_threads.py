"""`cnnkit gradcheck` with torch's default intra-op threads vs one thread.

The checker's tensors have at most a few hundred elements, so threads only add
synchronisation; run_checks now uses one thread. This script measures both settings in
the same run, alternating, on the reference layers and on a student-style numpy file.

    python benchmarks/gradcheck_threads.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from cnnkit.scratch import gradcheck as G

STUDENT = Path(__file__).resolve().parents[1] / "tests" / "scratch" / "student_impls" / "numpy_classes.py"


def timed(module, threads: int) -> float:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    G._run_checks(module, None, 0, {})  # without run_checks' own one-thread switch
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    default = torch.get_num_threads()
    student = G.load_impl(STUDENT)
    for name, module in (("reference layers", None), ("numpy_classes.py", student)):
        timed(module, 1)  # warm-up
        runs = {default: [], 1: []}
        for _ in range(args.repeats):
            for threads in (default, 1):  # alternate, so both see the same machine load
                runs[threads].append(timed(module, threads))
        a, b = statistics.median(runs[default]), statistics.median(runs[1])
        print(f"{name}: {default} threads median {a:.2f} s, 1 thread median {b:.2f} s, speed-up {a / b:.1f}x "
              f"(runs: {[round(t, 2) for t in runs[default]]} vs {[round(t, 2) for t in runs[1]]})")


if __name__ == "__main__":
    main()
