"""A helper module next to the student's layer file (imported as `from conv_helpers import ...`)."""

import torch


def out_size(h, k, stride, pad):
    return (h + 2 * pad - k) // stride + 1


def im2col(x, k, stride, pad):
    """(N, C, H, W) -> (N, C*k*k, Ho*Wo): one column per output position."""
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    ho, wo = out_size(h, k, stride, pad), out_size(w, k, stride, pad)
    cols = x.new_zeros(n, c, k, k, ho, wo)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]
    return cols.reshape(n, c * k * k, ho * wo)


def col2im(cols, shape, k, stride, pad):
    """The adjoint of im2col: add every column entry back to the pixel it came from."""
    n, c, h, w = shape
    ho, wo = out_size(h, k, stride, pad), out_size(w, k, stride, pad)
    cols = cols.reshape(n, c, k, k, ho, wo)
    dxp = cols.new_zeros(n, c, h + 2 * pad, w + 2 * pad)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[:, :, i, j]
    return dxp[:, :, pad : pad + h, pad : pad + w]
