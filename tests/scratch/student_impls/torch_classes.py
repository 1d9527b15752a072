"""A typical coursework file in torch: PyTorch's argument names but no dilation, groups or
bias options; weights as attributes; BatchNorm2d switched by train() / eval() without
arguments, BatchNorm1d by a `mode` string; a helper imported from this folder."""

import torch
from conv_helpers import col2im, im2col, out_size


class Conv2d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding
        self.weight = torch.randn(out_channels, in_channels, kernel_size, kernel_size) * 0.1
        self.bias = torch.zeros(out_channels)
        self.grad_weight = torch.zeros_like(self.weight)
        self.grad_bias = torch.zeros_like(self.bias)

    def forward(self, x):  # (N, C, H, W) -> (N, O, Ho, Wo)
        n, _, h, w = x.shape
        self.x_shape = x.shape
        self.cols = im2col(x, self.k, self.stride, self.padding)  # (N, C*k*k, L)
        o = self.weight.shape[0]
        y = self.weight.reshape(o, -1) @ self.cols + self.bias[:, None]  # (N, O, L)
        return y.reshape(n, o, out_size(h, self.k, self.stride, self.padding), out_size(w, self.k, self.stride, self.padding))

    def backward(self, dy):
        n, o = dy.shape[:2]
        d = dy.reshape(n, o, -1)  # (N, O, L)
        self.grad_weight = (d @ self.cols.transpose(1, 2)).sum(0).reshape(self.weight.shape)
        self.grad_bias = d.sum((0, 2))
        dcols = self.weight.reshape(o, -1).T @ d  # (N, C*k*k, L)
        return col2im(dcols, self.x_shape, self.k, self.stride, self.padding)


class Linear:
    def __init__(self, in_features, out_features, bias=True):
        self.W = torch.randn(in_features, out_features) * 0.1  # stored (in, out): y = x @ W + b
        self.b = torch.zeros(out_features) if bias else None

    def forward(self, x):
        self.x = x
        return x @ self.W + (self.b if self.b is not None else 0)

    def backward(self, dy):
        self.dW = self.x.T @ dy
        if self.b is not None:
            self.db = dy.sum(0)
        return dy @ self.W.T


class MaxPool2d:
    def __init__(self, kernel_size, stride=None):
        self.k, self.stride = kernel_size, stride or kernel_size

    def forward(self, x):
        n, c, h, w = self.shape = x.shape
        cols = im2col(x.reshape(n * c, 1, h, w), self.k, self.stride, 0)  # (NC, k*k, L)
        self.arg = cols.argmax(1, keepdim=True)  # (NC, 1, L)
        self.cols_shape = cols.shape
        y = cols.gather(1, self.arg)
        return y.reshape(n, c, out_size(h, self.k, self.stride, 0), out_size(w, self.k, self.stride, 0))

    def backward(self, dy):
        n, c, h, w = self.shape
        dcols = dy.new_zeros(self.cols_shape).scatter_(1, self.arg, dy.reshape(n * c, 1, -1))
        return col2im(dcols, (n * c, 1, h, w), self.k, self.stride, 0).reshape(self.shape)


class AvgPool2d:
    def __init__(self, kernel_size, stride=None, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride or kernel_size, padding

    def forward(self, x):
        n, c, h, w = self.shape = x.shape
        cols = im2col(x.reshape(n * c, 1, h, w), self.k, self.stride, self.padding)
        y = cols.mean(1)
        return y.reshape(n, c, out_size(h, self.k, self.stride, self.padding), out_size(w, self.k, self.stride, self.padding))

    def backward(self, dy):
        n, c, h, w = self.shape
        d = dy.reshape(n * c, 1, -1).expand(-1, self.k * self.k, -1) / (self.k * self.k)
        return col2im(d, (n * c, 1, h, w), self.k, self.stride, self.padding).reshape(self.shape)


class ReLU:
    def forward(self, x):
        self.x = x
        return x.clamp(min=0)

    def backward(self, dy):
        return dy * (self.x > 0)


class LeakyReLU:
    def __init__(self, negative_slope=0.01):
        self.slope = negative_slope

    def forward(self, x):
        self.x = x
        return torch.where(x > 0, x, self.slope * x)

    def backward(self, dy):
        return torch.where(self.x > 0, dy, self.slope * dy)


class ELU:
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return torch.where(x > 0, x, self.alpha * (torch.exp(x) - 1))

    def backward(self, dy):
        return torch.where(self.x > 0, dy, dy * self.alpha * torch.exp(self.x))


class Sigmoid:
    def forward(self, x):
        self.y = 1 / (1 + torch.exp(-x))
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)


class Tanh:
    def forward(self, x):
        self.y = torch.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y**2)


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class _BatchNorm:
    dims = (0,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.gamma = torch.ones(num_features)
        self.beta = torch.zeros(num_features)
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

    def _b(self, v):  # (C,) -> broadcastable against x
        return v.reshape(1, -1, *([1] * (len(self.dims) - 1)))

    def is_training(self):
        return True

    def forward(self, x):
        if self.is_training():
            mean, var = x.mean(self.dims), x.var(self.dims, unbiased=False)
            m = x.numel() // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)
        else:
            mean, var = self.running_mean, self.running_var
        self.train_step = self.is_training()
        self.inv = 1 / torch.sqrt(self._b(var) + self.eps)
        self.xhat = (x - self._b(mean)) * self.inv
        return self._b(self.gamma) * self.xhat + self._b(self.beta)

    def backward(self, dy):
        self.dgamma = (dy * self.xhat).sum(self.dims)
        self.dbeta = dy.sum(self.dims)
        dxhat = dy * self._b(self.gamma)
        if not self.train_step:  # statistics are constants in eval mode
            return dxhat * self.inv
        m = dy.numel() // dy.shape[1]
        return self.inv / m * (m * dxhat - dxhat.sum(self.dims, keepdim=True)
                               - self.xhat * (dxhat * self.xhat).sum(self.dims, keepdim=True))


class BatchNorm2d(_BatchNorm):
    dims = (0, 2, 3)

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__(num_features, eps, momentum)
        self.is_train = True

    def train(self):
        self.is_train = True

    def eval(self):
        self.is_train = False

    def is_training(self):
        return self.is_train


class BatchNorm1d(_BatchNorm):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__(num_features, eps, momentum)
        self.mode = "train"

    def is_training(self):
        return self.mode == "train"


class Dropout:
    def __init__(self, p=0.5):
        self.p = p
        self.training = True

    def forward(self, x):
        if not self.training:
            return x
        self.mask = (torch.rand(x.shape, dtype=x.dtype) >= self.p) / (1 - self.p)
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask if self.training else dy


class SoftmaxCrossEntropy:
    def forward(self, logits, target):  # logits (N, K), target (N,)
        z = logits - logits.max(1, keepdim=True).values
        log_p = z - torch.log(torch.exp(z).sum(1, keepdim=True))
        self.p, self.target = torch.exp(log_p), target
        return -log_p[torch.arange(len(target)), target].mean()

    def backward(self):
        g = self.p.clone()
        g[torch.arange(len(self.target)), self.target] -= 1
        return g / len(self.target)


class MSELoss:
    def forward(self, pred, target):
        self.diff = pred - target
        return (self.diff**2).mean()

    def backward(self):
        return 2 * self.diff / self.diff.numel()
