"""Pretrained weights from a local file (`cnnkit train --weights FILE`): offline machines,
a course's mirror of torchvision's files, a network pretrained by the student elsewhere.

The file is opened and unwrapped by cnnkit/foreign.py, the one reader every command uses
(evaluate and predict read foreign files through it too): torch.load(weights_only=True),
tensors and plain containers only, never code; a bare state dict, the tutorial's
{"model_state_dict": ...}, a cnnkit / Lightning / training-loop checkpoint, with the
Lightning, DataParallel and torch.compile prefixes removed and said in a line.

Every parameter and buffer of the model must be in the file with its shape, except
that the first layer may take other inputs or another kernel (grey images, a CIFAR
stem) and the last layer may have other outputs (another number of classes): those two
then stay randomly initialised, as with --pretrained, and a line says so. Any other
difference is an error naming the keys.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import CnnkitError


def read_weights(path: str | Path) -> tuple[dict, list[str]]:
    """({key: tensor}, lines saying what unwrapping did) from the file, through cnnkit/foreign.py.
    Every error starts with --weights and the file."""
    from cnnkit.foreign import CheckpointError, check_finite, torch_load, unwrap

    path = Path(path)
    if not path.is_file():
        raise CnnkitError(f"--weights {path}: " + ("is a folder; give the weights file" if path.is_dir()
                                                    else "no such file; check the path"))
    try:
        # --weights has no --trust-checkpoint: a whole pickled model is refused, with how to save its state dict
        state, _, notes, _ = unwrap(torch_load(path, "cpu", trust_flag=None), path)
        check_finite(state, path)
    except CheckpointError as e:
        raise CnnkitError(f"--weights {e}") from None
    return state, notes


def match(model, state: dict, path: str | Path) -> tuple[dict, list[str]]:
    """(the tensors to load, lines saying what stays random). The model may be on the
    meta device: only names and shapes are read. CnnkitError naming what does not fit."""
    own = model.state_dict()
    params = [n for n, _ in model.named_parameters()]
    first, last = (params[0].rsplit(".", 1)[0], params[-1].rsplit(".", 1)[0]) if params else ("", "")
    edge = lambda k: k.rsplit(".", 1)[0] in (first, last)  # noqa: E731
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]

    def may_differ(k: str) -> bool:
        """The head may have other outputs (classes), the first layer other inputs or kernel
        (a stem); a first layer with other outputs, or a head with other inputs, is another net."""
        layer, a, b = k.rsplit(".", 1)[0], tuple(state[k].shape), tuple(own[k].shape)
        if layer == last:
            return len(a) == len(b) and a[1:] == b[1:]
        return layer == first and len(a) == len(b) and a[:1] == b[:1]

    bad_missing = [k for k in missing if not edge(k)]
    bad_shape = [k for k in wrong if not may_differ(k)]
    if unexpected or bad_missing or bad_shape:
        parts = []
        if bad_shape:
            parts.append("shapes differ: " + ", ".join(f"{k} {_shape(state[k])} in the file, {_shape(own[k])} in the model"
                                                      for k in bad_shape[:4]) + (" ..." if len(bad_shape) > 4 else ""))
        if bad_missing:
            parts.append(f"{len(bad_missing)} missing from the file ({', '.join(bad_missing[:4])}{' ...' if len(bad_missing) > 4 else ''})")
        if unexpected:
            parts.append(f"{len(unexpected)} not in the model ({', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''})")
        raise CnnkitError(f"--weights {path} does not fit this model: {'; '.join(parts)}; give weights saved from the same "
                          "architecture (the same model and --opt options)")
    skipped = sorted({k.rsplit(".", 1)[0] for k in wrong + missing if edge(k)})
    notes = []
    for layer in skipped:
        keys = [k for k in wrong if k.rsplit(".", 1)[0] == layer]
        what = (", ".join(f"{_shape(state[k])} in the file, {_shape(own[k])} here" for k in keys[:1]) if keys else "not in the file")
        role = "the head (another number of classes)" if layer == last else "the first layer (another stem or input channels)"
        notes.append(f"{layer} is {role}: {what}; it starts randomly initialised")
    load = {k: v for k, v in state.items() if k in own and not (edge(k) and k.rsplit(".", 1)[0] in skipped)}
    return load, notes


def _shape(t) -> str:
    return "x".join(map(str, t.shape))


def load_into(model, path: str | Path) -> list[str]:
    """Load the file's weights into `model` (see match); returns the lines to print."""
    state, read = read_weights(path)
    load, notes = match(model, state, path)
    model.load_state_dict(load, strict=False)
    return [f"weights from {path}: {len(load)} tensors loaded"] + read + notes
