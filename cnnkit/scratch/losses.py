"""Losses with hand-written gradients: forward(prediction, target) -> scalar,
backward() -> dL/dprediction."""

from __future__ import annotations

from typing import Optional

import torch


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) over the batch (and pixels, for (N, K, H, W)).

    Subtracting the row maximum before exp keeps exp() finite for large logits; the
    gradient is (softmax - onehot) / count, zero at ignored targets."""

    def __init__(self, ignore_index: Optional[int] = None):
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        z = logits.movedim(1, -1).reshape(-1, k)  # (M, K) rows: one per sample (and pixel)
        t = target.reshape(-1)
        valid = torch.ones_like(t, dtype=torch.bool) if self.ignore_index is None else t != self.ignore_index
        shifted = z - z.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        safe_t = torch.where(valid, t, 0)
        self.count = max(int(valid.sum()), 1)
        self.probs, self.target, self.valid, self.shape = log_probs.exp(), safe_t, valid, logits.shape
        return -(log_probs.gather(1, safe_t[:, None])[:, 0] * valid).sum() / self.count

    def backward(self) -> torch.Tensor:
        grad = self.probs.clone()
        grad[torch.arange(len(grad)), self.target] -= 1
        grad = grad * self.valid[:, None] / self.count  # (M, K)
        n, k = self.shape[0], self.shape[1]
        return grad.reshape(n, *self.shape[2:], k).movedim(-1, 1)

    __call__ = forward


class MSELoss:
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.diff = pred - target
        return (self.diff**2).mean()

    def backward(self) -> torch.Tensor:
        return 2 * self.diff / self.diff.numel()

    __call__ = forward
