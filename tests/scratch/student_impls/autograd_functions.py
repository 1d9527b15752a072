"""Layers as torch.autograd.Function, as many courses teach them: a Linear module that
calls LinearFunction.apply, a bare Function for ReLU, and one for MaxPool2d with its
kernel size as a forward argument."""

import torch
import torch.nn as nn


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        return dy @ weight, dy.T @ x, dy.sum(0)


class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return LinearFunction.apply(x, self.weight, self.bias)


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (x > 0)


class MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride=None):
        n, c, h, w = x.shape
        k, s = kernel_size, stride or kernel_size
        cols = torch.nn.functional.unfold(x.reshape(n * c, 1, h, w), k, stride=s)  # (NC, k*k, L)
        value, arg = cols.max(1, keepdim=True)
        ctx.save_for_backward(arg)
        ctx.shape, ctx.cols_shape, ctx.k, ctx.s = x.shape, cols.shape, k, s
        return value.reshape(n, c, (h - k) // s + 1, (w - k) // s + 1)

    @staticmethod
    def backward(ctx, dy):
        (arg,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        dcols = dy.new_zeros(ctx.cols_shape).scatter_(1, arg, dy.reshape(n * c, 1, -1))
        dx = torch.nn.functional.fold(dcols, (h, w), ctx.k, stride=ctx.s).reshape(ctx.shape)
        return dx, None, None
