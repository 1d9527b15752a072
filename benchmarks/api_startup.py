"""What the Python API costs at start-up: `cnnkit shape` and `import cnnkit; cnnkit.shape(...)`
on this tree against an older tree, interleaved in one run.

    git archive <commit> cnnkit | tar -x -C /tmp/base    # the tree to compare with
    python benchmarks/api_startup.py --baseline /tmp/base [--tree /tmp/new] [--repeats 30]

Each command runs with PYTHONPATH set to the tree, so only the package differs. The
runs alternate (A, B, A, B, ...) so a change in machine load hits both sides alike.
Reports medians and the ratio new / baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHAPE = "from cnnkit.cli.main import main; import sys; sys.argv = ['cnnkit', 'shape', '--in', '512', '--k', '9', '--p', '1']; main()"
API = "import cnnkit.arith.shape as s; s.layer_output('conv', 512, 9, None, 1)"  # what the old tree can run
API_NEW = "import cnnkit; cnnkit.shape(512, k=9, p=1)"


def wall(code: str, tree: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, env=env, cwd="/")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline", type=Path, required=True, help="a tree holding the older cnnkit/ package")
    ap.add_argument("--tree", type=Path, default=REPO, help="the tree to measure (default: this checkout)")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    cases = {  # name: (code on the baseline, code on this tree)
        "cnnkit shape (CLI)": (SHAPE, SHAPE),
        "shape from Python": (API, API_NEW),  # the baseline had no API: arith.shape directly
    }
    base_t = {c: [] for c in cases}
    new_t = {c: [] for c in cases}
    for name, (old, new) in cases.items():
        wall(old, args.baseline), wall(new, args.tree)  # warm the file cache
        for _ in range(args.repeats):
            base_t[name].append(wall(old, args.baseline))
            new_t[name].append(wall(new, args.tree))
    base = statistics.median(wall("pass", args.tree) for _ in range(args.repeats))
    print(f"python -c pass: {base * 1000:.0f} ms")
    for name in cases:
        b, n = statistics.median(base_t[name]), statistics.median(new_t[name])
        print(f"{name:28s} baseline {b * 1000:6.0f} ms   this tree {n * 1000:6.0f} ms   ratio {n / b:.2f} ({(n - b) * 1000:+.0f} ms)")


if __name__ == "__main__":
    main()
