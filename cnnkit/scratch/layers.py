"""Reference layers: forward and backward side by side, vectorised (im2col via
F.unfold / F.fold as plain index rearrangements, never autograd).

Shapes: images (N, C, H, W); im2col columns (N, C*kh*kw, L) with L = H_out * W_out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class Layer:
    """params / grads dicts, forward caches, backward returns dL/dx."""

    def __init__(self):
        self.params: dict[str, torch.Tensor] = {}
        self.grads: dict[str, torch.Tensor] = {}
        self.training = True

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)


# ----------------------------------------------------------------- linear layers


class Linear(Layer):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=torch.float32):
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # torch.nn.Linear's default init range
        self.params["weight"] = torch.empty(out_features, in_features, dtype=dtype).uniform_(-bound, bound)
        if bias:
            self.params["bias"] = torch.empty(out_features, dtype=dtype).uniform_(-bound, bound)

    def forward(self, x):  # (N, in) -> (N, out)
        self.x = x
        y = x @ self.params["weight"].T
        return y + self.params["bias"] if "bias" in self.params else y

    def backward(self, dy):  # dy (N, out)
        self.grads["weight"] = dy.T @ self.x  # (out, in)
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(0)
        return dy @ self.params["weight"]  # (N, in)


class Conv2d(Layer):
    """Cross-correlation as one matrix product per group on im2col columns."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 dtype=torch.float32):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        self.k, self.stride, self.padding, self.dilation = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
        self.groups = groups
        fan_in = in_channels // groups * self.k[0] * self.k[1]
        bound = 1 / math.sqrt(fan_in)
        self.params["weight"] = torch.empty(out_channels, in_channels // groups, *self.k, dtype=dtype).uniform_(-bound, bound)
        if bias:
            self.params["bias"] = torch.empty(out_channels, dtype=dtype).uniform_(-bound, bound)

    def _unfold(self, x):
        return F.unfold(x, self.k, dilation=self.dilation, padding=self.padding, stride=self.stride)

    def forward(self, x):  # (N, C, H, W) -> (N, O, H_out, W_out)
        n, c, h, w = x.shape
        self.x_shape = x.shape
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.k[0] - 1) - 1) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.k[1] - 1) - 1) // self.stride[1] + 1
        g = self.groups
        cols = self._unfold(x)  # (N, C*kh*kw, L)
        self.cols = cols.view(n, g, -1, ho * wo)  # (N, G, C/G*kh*kw, L)
        wt = self.params["weight"]
        wg = wt.view(g, wt.shape[0] // g, -1)  # (G, O/G, C/G*kh*kw)
        y = torch.einsum("gok,ngkl->ngol", wg, self.cols).reshape(n, wt.shape[0], ho, wo)
        if "bias" in self.params:
            y = y + self.params["bias"].view(1, -1, 1, 1)
        return y

    def backward(self, dy):  # dy (N, O, H_out, W_out)
        n, o = dy.shape[:2]
        g = self.groups
        dyg = dy.reshape(n, g, o // g, -1)  # (N, G, O/G, L)
        wt = self.params["weight"]
        # dW[o, k] = sum over images and positions of dy[o, l] * x_col[k, l]
        self.grads["weight"] = torch.einsum("ngol,ngkl->gok", dyg, self.cols).reshape(wt.shape)
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(dim=(0, 2, 3))
        # dx_col = W^T dy, then fold sums the overlapping patches back into the image
        dcols = torch.einsum("gok,ngol->ngkl", wt.view(g, o // g, -1), dyg).reshape(n, -1, dyg.shape[-1])
        return F.fold(dcols, self.x_shape[2:], self.k, dilation=self.dilation, padding=self.padding, stride=self.stride)


class ConvTranspose2d(Layer):
    """The adjoint of Conv2d: its forward is a convolution's backward (fold) and vice versa."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, dilation=1, bias=True,
                 dtype=torch.float32):
        super().__init__()
        self.k, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation = _pair(output_padding), _pair(dilation)
        bound = 1 / math.sqrt(out_channels * self.k[0] * self.k[1])  # torch uses weight.size(1) * k * k as fan-in
        self.params["weight"] = torch.empty(in_channels, out_channels, *self.k, dtype=dtype).uniform_(-bound, bound)
        if bias:
            self.params["bias"] = torch.empty(out_channels, dtype=dtype).uniform_(-bound, bound)

    def forward(self, x):  # (N, C_in, H, W) -> (N, C_out, H_out, W_out)
        n, c, h, w = x.shape
        self.x = x
        self.out_size = tuple((s - 1) * st - 2 * p + d * (k - 1) + op + 1 for s, st, p, d, k, op in
                              zip((h, w), self.stride, self.padding, self.dilation, self.k, self.output_padding))
        wt = self.params["weight"].reshape(c, -1)  # (C_in, C_out*kh*kw)
        cols = wt.T @ x.reshape(n, c, h * w)  # (N, C_out*kh*kw, H*W)
        y = F.fold(cols, self.out_size, self.k, dilation=self.dilation, padding=self.padding, stride=self.stride)
        if "bias" in self.params:
            y = y + self.params["bias"].view(1, -1, 1, 1)
        return y

    def backward(self, dy):
        n, c, h, w = self.x.shape
        dcols = F.unfold(dy, self.k, dilation=self.dilation, padding=self.padding, stride=self.stride)  # (N, C_out*k*k, H*W)
        wt = self.params["weight"].reshape(c, -1)
        x = self.x.reshape(n, c, h * w)
        self.grads["weight"] = torch.einsum("ncl,nkl->ck", x, dcols).reshape(self.params["weight"].shape)
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(dim=(0, 2, 3))
        return (wt @ dcols).reshape(n, c, h, w)


# ----------------------------------------------------------------- pooling


class MaxPool2d(Layer):
    """Max over each window; the gradient goes to the (first) maximum only."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.k = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding = _pair(padding)

    def forward(self, x):
        n, c, h, w = x.shape
        self.x_shape = x.shape
        ho = (h + 2 * self.padding[0] - self.k[0]) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.k[1]) // self.stride[1] + 1
        # pad with -inf so padding never wins, one channel per "image" so unfold keeps windows apart
        xp = F.pad(x.reshape(n * c, 1, h, w), (self.padding[1],) * 2 + (self.padding[0],) * 2, value=-math.inf)
        cols = F.unfold(xp, self.k, stride=self.stride)  # (N*C, kh*kw, L)
        y, self.arg = cols.max(dim=1)  # (N*C, L)
        self.cols_shape, self.padded = cols.shape, xp.shape[2:]
        return y.reshape(n, c, ho, wo)

    def backward(self, dy):
        n, c, h, w = self.x_shape
        dcols = torch.zeros(self.cols_shape, dtype=dy.dtype)
        dcols.scatter_(1, self.arg[:, None, :], dy.reshape(n * c, 1, -1))
        dxp = F.fold(dcols, self.padded, self.k, stride=self.stride)  # (N*C, 1, Hp, Wp)
        ph, pw = self.padding
        return dxp[:, 0, ph : ph + h, pw : pw + w].reshape(n, c, h, w)


class AvgPool2d(Layer):
    """Mean over each window; count_include_pad decides whether padding counts in the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__()
        self.k = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding, self.count_include_pad = _pair(padding), count_include_pad

    def forward(self, x):
        n, c, h, w = x.shape
        self.x_shape = x.shape
        flat = x.reshape(n * c, 1, h, w)
        cols = F.unfold(flat, self.k, padding=self.padding, stride=self.stride)  # (N*C, kh*kw, L)
        if self.count_include_pad:
            self.divisor = torch.full((1, 1, cols.shape[-1]), float(self.k[0] * self.k[1]), dtype=x.dtype)
        else:  # count the real pixels in each window by pooling an image of ones
            ones = torch.ones(1, 1, h, w, dtype=x.dtype)
            self.divisor = F.unfold(ones, self.k, padding=self.padding, stride=self.stride).sum(1, keepdim=True)
        ho = (h + 2 * self.padding[0] - self.k[0]) // self.stride[0] + 1
        return (cols.sum(1, keepdim=True) / self.divisor).reshape(n, c, ho, -1)

    def backward(self, dy):
        n, c, h, w = self.x_shape
        share = (dy.reshape(n * c, 1, -1) / self.divisor).expand(-1, self.k[0] * self.k[1], -1)  # each pixel's part
        return F.fold(share.contiguous(), (h, w), self.k, padding=self.padding, stride=self.stride).reshape(n, c, h, w)


# ----------------------------------------------------------------- activations


class ReLU(Layer):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask  # derivative 0 at x = 0, as PyTorch


class LeakyReLU(Layer):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.slope = negative_slope

    def forward(self, x):
        self.mask = x > 0
        return torch.where(self.mask, x, self.slope * x)

    def backward(self, dy):
        return torch.where(self.mask, dy, self.slope * dy)


class ELU(Layer):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        self.y = torch.where(x > 0, x, self.alpha * torch.expm1(x))
        return self.y

    def backward(self, dy):  # d/dx alpha (e^x - 1) = alpha e^x = y + alpha
        return torch.where(self.x > 0, dy, dy * (self.y + self.alpha))


class Sigmoid(Layer):
    def forward(self, x):
        self.y = torch.sigmoid(x)
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)


class Tanh(Layer):
    def forward(self, x):
        self.y = torch.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y**2)


# ----------------------------------------------------------------- normalisation and regularisation


class _BatchNorm(Layer):
    """Training: normalise with the batch's mean and biased variance; the running
    variance is updated with the *unbiased* one (PyTorch's convention), with
    running = (1 - momentum) * running + momentum * batch. Eval: running statistics."""

    axes: tuple[int, ...] = (0,)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=torch.float32):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.params["weight"] = torch.ones(num_features, dtype=dtype)
        self.params["bias"] = torch.zeros(num_features, dtype=dtype)
        self.running_mean = torch.zeros(num_features, dtype=dtype)
        self.running_var = torch.ones(num_features, dtype=dtype)

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x):
        s = self._shape(x)
        if self.training:
            mean = x.mean(dim=self.axes)
            var = x.var(dim=self.axes, unbiased=False)
            m = x.numel() // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / max(m - 1, 1)
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1 / torch.sqrt(var + self.eps)
        self.xhat = (x - mean.view(s)) * self.inv_std.view(s)
        return self.params["weight"].view(s) * self.xhat + self.params["bias"].view(s)

    def backward(self, dy):
        s = self._shape(dy)
        self.grads["weight"] = (dy * self.xhat).sum(dim=self.axes)
        self.grads["bias"] = dy.sum(dim=self.axes)
        dxhat = dy * self.params["weight"].view(s)
        if not self.training:  # statistics are constants in eval mode
            return dxhat * self.inv_std.view(s)
        m = dy.numel() // dy.shape[1]
        # dx = (1/m) inv_std (m dxhat - sum dxhat - xhat sum(dxhat xhat))
        return (self.inv_std.view(s) / m) * (
            m * dxhat - dxhat.sum(dim=self.axes, keepdim=True) - self.xhat * (dxhat * self.xhat).sum(dim=self.axes, keepdim=True)
        )


class BatchNorm2d(_BatchNorm):
    axes = (0, 2, 3)  # statistics per channel over N, H, W


class BatchNorm1d(_BatchNorm):
    axes = (0,)  # (N, C) inputs


class Dropout(Layer):
    """Inverted dropout; `mask` (already scaled by 1/(1-p)) is exposed so a checker
    can reproduce it."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        self.p, self.generator, self.mask = p, generator, None

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = torch.ones_like(x)
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.p
        self.mask = keep.to(x.dtype) / (1 - self.p)
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class Flatten(Layer):
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)
