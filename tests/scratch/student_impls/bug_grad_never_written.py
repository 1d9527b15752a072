"""Bug: backward computes the weight gradient into a local variable; grad_W stays zero."""

from report_style import *  # noqa: F403
from report_style import Linear as _Linear


class Linear(_Linear):
    def backward(self, grad_output):
        grad_W = self.x.T.dot(grad_output)  # noqa: F841 - the bug: never stored
        self.grad_b = grad_output.sum(axis=0, keepdims=True)
        return grad_output.dot(self.W.T)
