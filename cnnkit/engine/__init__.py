"""The training engine: configuration and recipes, the training loop, optimisers and
schedules, losses, metrics, checkpoints, run directories, evaluation and prediction,
and distributed data-parallel training."""
