"""A numpy file in the style of course frameworks built on a Module class:
updateOutput / updateGradInput / accGradParameters, backward(input, gradOutput),
gradients accumulated into gradW / gradb, getParameters() / getGradParameters(),
train() / evaluate()."""

import numpy as np


class Module:
    def __init__(self):
        self.output, self.gradInput, self.training = None, None, True

    def forward(self, input):
        return self.updateOutput(input)

    def backward(self, input, gradOutput):
        self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput)
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        pass

    def getParameters(self):
        return []

    def getGradParameters(self):
        return []

    def train(self):
        self.training = True

    def evaluate(self):
        self.training = False


class Linear(Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.W = np.random.uniform(-1, 1, size=(n_out, n_in))
        self.b = np.random.uniform(-1, 1, size=n_out)
        self.gradW, self.gradb = np.zeros_like(self.W), np.zeros_like(self.b)

    def updateOutput(self, input):
        self.output = input @ self.W.T + self.b
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.W
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        self.gradW += gradOutput.T @ input
        self.gradb += gradOutput.sum(axis=0)

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]


class ReLU(Module):
    def updateOutput(self, input):
        self.output = np.maximum(input, 0)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * (input > 0)
        return self.gradInput


class BatchNorm1d(Module):
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.gamma, self.beta = np.ones(num_features), np.zeros(num_features)
        self.gradgamma, self.gradbeta = np.zeros(num_features), np.zeros(num_features)
        self.moving_mean, self.moving_var = np.zeros(num_features), np.ones(num_features)

    def updateOutput(self, input):
        if self.training:
            mean, var = input.mean(0), input.var(0)
            n = input.shape[0]
            self.moving_mean = (1 - self.momentum) * self.moving_mean + self.momentum * mean
            self.moving_var = (1 - self.momentum) * self.moving_var + self.momentum * var * n / (n - 1)
        else:
            mean, var = self.moving_mean, self.moving_var
        self.std = np.sqrt(var + self.eps)
        self.xhat = (input - mean) / self.std
        self.output = self.gamma * self.xhat + self.beta
        return self.output

    def updateGradInput(self, input, gradOutput):
        d = gradOutput * self.gamma
        if not self.training:
            self.gradInput = d / self.std
        else:
            n = input.shape[0]
            self.gradInput = (n * d - d.sum(0) - self.xhat * (d * self.xhat).sum(0)) / (n * self.std)
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        self.gradgamma += (gradOutput * self.xhat).sum(0)
        self.gradbeta += gradOutput.sum(0)
