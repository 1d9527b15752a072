"""Start-up time of `cnnkit shape` against `python -c pass`, measured in one run.

    python benchmarks/startup.py [--repeats 30]

Reports the median wall time of each and the difference; the target is under
0.25 s wall for `cnnkit shape` on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import sys

from timing import cnnkit_command, median_wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    shape = cnnkit_command() + ["shape", "--in", "512", "--k", "9", "--p", "1"]
    median_wall(shape, 3)  # warm the file cache
    base = median_wall([sys.executable, "-c", "pass"], args.repeats)
    ours = median_wall(shape, args.repeats)
    print(f"python -c pass      median {base * 1000:7.1f} ms")
    print(f"cnnkit shape        median {ours * 1000:7.1f} ms  ({ours / base:.1f}x python start-up, "
          f"+{(ours - base) * 1000:.0f} ms)")
    print(f"target < 250 ms: {'met' if ours < 0.25 else 'NOT met'}")


if __name__ == "__main__":
    main()
