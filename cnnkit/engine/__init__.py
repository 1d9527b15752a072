"""Training and evaluation machinery: checkpoints (more to come: fit, evaluate, metrics)."""
