"""A whitening first layer, set from the data (hlb-CIFAR10 / airbench).

The 2x2 patches of the training images are strongly correlated (neighbouring pixels
and colour channels move together). A conv whose filters are the eigenvectors of
the patch second-moment matrix, each scaled by 1/sqrt(eigenvalue), outputs
decorrelated unit-variance features from the first step, which is a large part of
how the CIFAR-10 speed records train in so few epochs. Each filter is used with
both signs (+v, -v), so a following ReLU/GELU loses nothing.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def patches(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N * positions, C * kh * kw): every kh x kw patch, flattened in
    the order a Conv2d weight (C, kh, kw) is flattened."""
    kh, kw = size
    p = images.unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C, H', W', kh, kw)
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1] * kh * kw).double()


def whitening_filters(images: torch.Tensor, size: tuple[int, int], eps: float = 5e-4) -> torch.Tensor:
    """(2 * C*kh*kw, C, kh, kw) filters: eigenvectors of the patch second moment scaled
    by 1/sqrt(eigenvalue + eps), strongest first, then the same with the sign flipped."""
    x = patches(images, size)
    moment = x.T @ x / len(x)  # (D, D), D = C*kh*kw
    values, vectors = torch.linalg.eigh(moment)  # ascending
    values, vectors = values.flip(0), vectors.flip(1)
    filters = (vectors / torch.sqrt(values.clamp_min(0) + eps)).T  # (D, D): row i = v_i / sqrt(lambda_i)
    filters = filters.reshape(-1, images.shape[1], *size).float()
    return torch.cat([filters, -filters])


class WhiteningConv(nn.Conv2d):
    """A kh x kw conv, no padding, 2 * C*kh*kw outputs; its weights come from
    `init_from_data` and are not trained (the bias is)."""

    def __init__(self, in_channels: int, size: int = 2):
        super().__init__(in_channels, 2 * in_channels * size * size, size, padding=0, bias=True)
        self.weight.requires_grad_(False)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """images: (N, C, H, W) normalised training images (a few thousand suffice)."""
        self.weight.copy_(whitening_filters(images.float().cpu(), self.kernel_size, eps).to(self.weight))
        self.bias.zero_()
