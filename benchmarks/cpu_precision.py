"""Training steps per second on the CPU in fp32 and under bf16 autocast, for the
registry's models at their usual batch sizes: is `--precision auto`'s bf16 on CPUs with
native bf16 (AVX512-BF16 / AMX) the faster choice?

    python benchmarks/cpu_precision.py [--repeats 5]

Each case builds the model (channels_last, as the runs use it), then times `--repeats`
SGD steps (forward, loss, backward, step) on random data after one warm-up step: two
rounds in fp32, then two under bf16 autocast. It prints the median images/s of the
faster round of each and their ratio, measured in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from cnnkit.engine.device import cpu_has_native_bf16
from cnnkit.registry import create_for_input

CASES = [  # model, input, classes, batch
    ("lenet5", (1, 28, 28), 10, 32), ("convnet", (1, 28, 28), 10, 32), ("convnet", (3, 32, 32), 10, 128),
    ("speednet-cpu", (3, 32, 32), 10, 32), ("speednet-cpu", (3, 32, 32), 10, 512), ("resnet18-cifar", (3, 32, 32), 10, 128),
    ("unet", (1, 256, 256), 2, 2), ("fcn", (1, 256, 256), 2, 2),
]


def rate(name: str, shape, classes: int, batch: int, bf16: bool, repeats: int) -> float:
    torch.manual_seed(0)
    model = create_for_input(name, shape, classes)
    channels_last = name != "lenet5"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *shape)
    x = x.to(memory_format=torch.channels_last) if channels_last else x
    seg = name in ("unet", "fcn")
    y = torch.randint(0, classes, (batch, *shape[1:]) if seg else (batch,))
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"native bf16 on this CPU: {cpu_has_native_bf16()}, torch threads {torch.get_num_threads()}\n")
    print("| model | input | batch | fp32 img/s | bf16 img/s | bf16 / fp32 |\n|---|---|---|---|---|---|")
    for name, shape, classes, batch in CASES:
        fp32 = max(rate(name, shape, classes, batch, False, args.repeats) for _ in range(2))
        bf16 = max(rate(name, shape, classes, batch, True, args.repeats) for _ in range(2))
        print(f"| `{name}` | {'x'.join(map(str, shape))} | {batch} | {fp32:.0f} | {bf16:.0f} | **{bf16 / fp32:.2f}x** |", flush=True)


if __name__ == "__main__":
    main()
