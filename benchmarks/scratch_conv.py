"""Scratch Conv2d (im2col + einsum, hand-written backward) vs torch.nn.Conv2d on the CPU.

A CIFAR-sized batch: 64 x 3 x 32 x 32 -> 64 channels, kernel 3, padding 1, float32,
forward + backward (input, weight and bias gradients). Median of 20 runs each,
interleaved.

    python benchmarks/scratch_conv.py
"""

from __future__ import annotations

import statistics
import time

import torch

import cnnkit.scratch as S


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    ref = torch.nn.Conv2d(3, 64, 3, padding=1)
    mine = S.Conv2d(3, 64, 3, padding=1)
    mine.params = {"weight": ref.weight.detach().clone(), "bias": ref.bias.detach().clone()}
    dy = torch.randn(64, 64, 32, 32)

    def torch_step():
        xt = x.clone().requires_grad_(True)
        ref.zero_grad()
        ref(xt).backward(dy)

    def scratch_step():
        mine.forward(x)
        mine.backward(dy)

    for f in (torch_step, scratch_step):
        for _ in range(3):
            f()
    a, b = [], []
    for _ in range(20):
        for f, times in ((torch_step, a), (scratch_step, b)):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
    ta, tb = statistics.median(a) * 1000, statistics.median(b) * 1000
    print(f"torch.nn.Conv2d forward+backward: median {ta:.1f} ms")
    print(f"scratch Conv2d forward+backward:  median {tb:.1f} ms")
    print(f"scratch / torch: {tb / ta:.2f}x (target: within 5x)")


if __name__ == "__main__":
    main()
