"""A rough training-memory estimate: activations kept for backward, parameters, gradients
and the optimiser's state (`cnnkit layers --batch`)."""

from __future__ import annotations

from cnnkit.errors import SpecError

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adagrad": 1, "adam": 2, "adamw": 2}


def training_memory_bytes(activation_elements: int, params: int, batch: int, optimizer: str = "sgd",
                          bytes_per_value: int = 4) -> dict:
    """Rough training-memory estimate in bytes.

    activations: every layer output kept for backward, per sample, times the batch
    (an upper bound: in-place ReLUs share storage); params, grads: one copy each;
    optimizer state: 0 (SGD), 1 (momentum/RMSprop/Adagrad) or 2 (Adam) copies.
    """
    if optimizer not in OPTIMIZER_STATE:
        raise SpecError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE)}")
    if batch < 1:
        raise SpecError("batch size must be >= 1")
    p = params * bytes_per_value
    parts = {
        "activations": activation_elements * batch * bytes_per_value,
        "params": p,
        "grads": p,
        "optimizer_state": p * OPTIMIZER_STATE[optimizer],
    }
    parts["total"] = sum(parts.values())
    return parts


def training_memory(report, batch: int, optimizer: str = "sgd") -> dict:
    """`training_memory_bytes` for a parsed spec (an arith.spec.NetworkReport)."""
    return training_memory_bytes(report.activation_elements(), report.total_params, batch, optimizer)
