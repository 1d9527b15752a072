"""A scratch Sequential and two optimisers, enough to train a scratch network."""

from __future__ import annotations

import torch


class Sequential:
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def train(self, mode: bool = True):
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def parameters(self):
        """(layer, name) pairs: the optimiser reads layer.params[name] and layer.grads[name]."""
        return [(layer, name) for layer in self.layers for name in layer.params]


class SGD:
    def __init__(self, parameters, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.parameters, self.lr, self.momentum, self.weight_decay = parameters, lr, momentum, weight_decay
        self.velocity = {}

    def step(self):
        for i, (layer, name) in enumerate(self.parameters):
            g = layer.grads[name] + self.weight_decay * layer.params[name]
            if self.momentum:
                v = self.velocity.get(i)
                v = g.clone() if v is None else self.momentum * v + g  # PyTorch's convention (no dampening)
                self.velocity[i] = v
                g = v
            layer.params[name] = layer.params[name] - self.lr * g


class Adam:
    def __init__(self, parameters, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.parameters, self.lr, self.betas, self.eps = parameters, lr, betas, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for i, (layer, name) in enumerate(self.parameters):
            g = layer.grads[name]
            self.m[i] = b1 * self.m.get(i, torch.zeros_like(g)) + (1 - b1) * g
            self.v[i] = b2 * self.v.get(i, torch.zeros_like(g)) + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1**self.t)
            v_hat = self.v[i] / (1 - b2**self.t)
            layer.params[name] = layer.params[name] - self.lr * m_hat / (v_hat.sqrt() + self.eps)
