"""A numpy coursework file in the mytorch style: W / b with dLdW / dLdb, weights (out, in),
biases as columns, BatchNorm2d with forward(Z, eval=False) and (1, C, 1, 1) parameters,
BatchNorm1d with a `training` attribute, a cross-entropy loss taking one-hot targets."""

import numpy as np


def _windows(x, k, stride, pad):
    """(N, C, H, W) -> (N, C, k, k, Ho, Wo) views of every k x k window."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, k, k, ho, wo), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i, j] = xp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]
    return out


def _unwindows(d, shape, k, stride, pad):
    n, c, h, w = shape
    ho, wo = d.shape[-2:]
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=d.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += d[:, :, i, j]
    return dxp[:, :, pad : pad + h, pad : pad + w]


class Linear:
    def __init__(self, in_features, out_features, debug=False):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A):
        self.A = A
        return A @ self.W.T + self.b.T

    def backward(self, dLdZ):
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.sum(axis=0)[:, None]
        return dLdZ @ self.W


class Conv2d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, weight_init_fn=None, bias_init_fn=None):
        self.k, self.stride, self.pad = kernel_size, stride, padding
        self.W = np.random.normal(0, 1.0, (out_channels, in_channels, kernel_size, kernel_size))
        self.b = np.zeros(out_channels)

    def forward(self, A):
        self.shape = A.shape
        self.win = _windows(A, self.k, self.stride, self.pad)  # (N, C, k, k, Ho, Wo)
        return np.einsum("ncijhw,ocij->nohw", self.win, self.W) + self.b[None, :, None, None]

    def backward(self, dLdZ):
        self.dLdW = np.einsum("ncijhw,nohw->ocij", self.win, dLdZ)
        self.dLdb = dLdZ.sum(axis=(0, 2, 3))
        dwin = np.einsum("nohw,ocij->ncijhw", dLdZ, self.W)
        return _unwindows(dwin, self.shape, self.k, self.stride, self.pad)


class ReLU:
    def forward(self, Z):
        self.A = np.maximum(Z, 0)
        return self.A

    def backward(self, dLdA):
        return dLdA * (self.A > 0)


class Sigmoid:
    def forward(self, Z):
        self.A = 1 / (1 + np.exp(-Z))
        return self.A

    def backward(self, dLdA):
        return dLdA * self.A * (1 - self.A)


class Tanh:
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (1 - self.A**2)


class MaxPool2d:
    def __init__(self, kernel_size, stride):
        self.k, self.stride = kernel_size, stride

    def forward(self, A):
        self.shape = A.shape
        win = _windows(A, self.k, self.stride, 0)
        n, c, k, _, ho, wo = win.shape
        flat = win.reshape(n, c, k * k, ho, wo)
        self.arg = flat.argmax(axis=2)  # (N, C, Ho, Wo)
        return flat.max(axis=2)

    def backward(self, dLdZ):
        n, c, ho, wo = dLdZ.shape
        d = np.zeros((n, c, self.k * self.k, ho, wo))
        np.put_along_axis(d, self.arg[:, :, None], dLdZ[:, :, None], axis=2)
        return _unwindows(d.reshape(n, c, self.k, self.k, ho, wo), self.shape, self.k, self.stride, 0)


class BatchNorm2d:
    def __init__(self, num_features, alpha=0.9):
        self.alpha, self.eps = alpha, 1e-5
        self.BW = np.ones((1, num_features, 1, 1))
        self.Bb = np.zeros((1, num_features, 1, 1))
        self.running_M = np.zeros((1, num_features, 1, 1))
        self.running_V = np.ones((1, num_features, 1, 1))

    def forward(self, Z, eval=False):
        self.eval = eval
        if eval:
            self.NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            return self.BW * self.NZ + self.Bb
        self.M = Z.mean(axis=(0, 2, 3), keepdims=True)
        self.V = Z.var(axis=(0, 2, 3), keepdims=True)
        m = Z.size // Z.shape[1]
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
        self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V * m / (m - 1)
        return self.BW * self.NZ + self.Bb

    def backward(self, dLdBZ):
        self.dLdBW = (dLdBZ * self.NZ).sum(axis=(0, 2, 3), keepdims=True)
        self.dLdBb = dLdBZ.sum(axis=(0, 2, 3), keepdims=True)
        dNZ = dLdBZ * self.BW
        if self.eval:
            return dNZ / np.sqrt(self.running_V + self.eps)
        m = dLdBZ.size // dLdBZ.shape[1]
        inv = 1 / np.sqrt(self.V + self.eps)
        return inv / m * (m * dNZ - dNZ.sum(axis=(0, 2, 3), keepdims=True)
                          - self.NZ * (dNZ * self.NZ).sum(axis=(0, 2, 3), keepdims=True))


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum, self.eps = momentum, eps
        self.gamma, self.beta = np.ones(num_features), np.zeros(num_features)
        self.running_mean, self.running_var = np.zeros(num_features), np.ones(num_features)
        self.training = True

    def forward(self, x):
        if self.training:
            mean, var = x.mean(0), x.var(0)
            n = x.shape[0]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        self.inv = 1 / np.sqrt(var + self.eps)
        self.xhat = (x - mean) * self.inv
        self.was_training = self.training
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        self.dgamma = (dy * self.xhat).sum(0)
        self.dbeta = dy.sum(0)
        dxhat = dy * self.gamma
        if not self.was_training:
            return dxhat * self.inv
        n = dy.shape[0]
        return self.inv / n * (n * dxhat - dxhat.sum(0) - self.xhat * (dxhat * self.xhat).sum(0))


class CrossEntropyLoss:
    def forward(self, A, Y):  # A (N, C) logits, Y (N, C) one-hot
        z = A - A.max(axis=1, keepdims=True)
        log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.softmax, self.Y = np.exp(log_softmax), Y
        return -(Y * log_softmax).sum() / A.shape[0]

    def backward(self):
        return (self.softmax - self.Y) / self.Y.shape[0]
