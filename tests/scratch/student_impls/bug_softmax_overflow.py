"""Bug: softmax without subtracting the maximum: exp overflows for large logits."""

import numpy as np
from report_style import *  # noqa: F403


def cross_entropy_loss_with_softmax(logits, y_true):
    e = np.exp(logits)
    probs = e / e.sum(axis=1, keepdims=True)
    n = y_true.shape[0]
    return -np.log(probs[np.arange(n), y_true]).sum() / n, probs
