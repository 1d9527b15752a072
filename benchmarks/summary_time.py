"""Wall time of `cnnkit summary resnet18 --input 3x224x224`, split into its parts.

    python benchmarks/summary_time.py [--repeats 5]

Measured in one run: `python -c "import torch"` (the floor any torch tool pays),
`python -c "import torchvision.models"`, and the whole command; plus, in-process,
the time of the summary itself (one hooked forward pass). Medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from timing import cnnkit_command, median_wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cmd = cnnkit_command() + ["summary", "resnet18", "--input", "3x224x224"]
    torch_only = median_wall([sys.executable, "-c", "import torch"], args.repeats)
    tv = median_wall([sys.executable, "-c", "import torchvision.models"], args.repeats)
    whole = median_wall(cmd, args.repeats)

    from cnnkit.model_summary import summarize
    from cnnkit.registry import create_model

    model = create_model("resnet18")
    inner = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        summarize(model, (3, 224, 224))
        inner.append(time.perf_counter() - t)
    print(f"import torch                     {torch_only:6.2f} s")
    print(f"import torchvision.models        {tv:6.2f} s")
    print(f"cnnkit summary resnet18 (whole)  {whole:6.2f} s  ({whole / torch_only:.2f}x import torch)")
    print(f"  summary itself (in-process)    {statistics.median(inner):6.2f} s")


if __name__ == "__main__":
    main()
