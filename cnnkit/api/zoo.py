"""The model zoo (registry) and per-layer summaries from Python (`cnnkit models`, `cnnkit summary`)."""

from __future__ import annotations

from typing import Optional, Union

from cnnkit.errors import CnnkitError, SpecError


def models(pattern: str = "*", task: Optional[str] = None) -> dict:
    """{'models': [{name, task, input_shape, num_classes, description, ..., options}]} (`cnnkit models`)."""
    from cnnkit.api.plain import plain
    from cnnkit.registry import get_spec, list_models

    return plain({"models": [dict(s.as_dict(), options=s.options()) for s in map(get_spec, list_models(pattern, task))]})


def summary(model, input: Optional[Union[str, tuple, list]] = None, classes: Optional[int] = None,  # noqa: A002 - the CLI's --input
            options: Optional[dict] = None, depth: Optional[int] = None, batch: int = 32, optimizer: str = "sgd",
            network: Optional[str] = None, trust_checkpoint: bool = False) -> dict:
    """Per-layer shapes, parameters, MACs and receptive field of a model (`cnnkit summary`).

    `model`: a registered name ("resnet18"), "my_net.py:Net1" (loading the file runs its
    top level), a layer spec ("3x32x32 | conv 8 | relu | flatten | linear 10"), a class or
    a function returning a network (`input` defaults to 3x32x32), a checkpoint path, or an
    nn.Module (then `input`, C x H x W, is required). `options` are constructor options, like --opt.
    For weights saved by your own training loop, `network` names their model (--model, any
    of the forms above; default: matched against the registry) and `options` apply to it.
    Returns the `--json` object: total_params, trainable_params, layers [...], ..."""
    from cnnkit.api.plain import plain
    from cnnkit.model_summary import collapse

    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise CnnkitError(f"--depth must be a whole number, at least 1 (1 = top-level blocks), got {depth!r}; "
                          "leave it out to list every layer")
    notes: list = []
    net, shape, name = model_and_shape(model, input, classes, options, network, trust_checkpoint, notes)
    result = run_summary(net, shape, name)
    rows = collapse(result, depth) if depth else [r for r in result.rows if r.leaf]
    data = result.as_dict()
    data["model"] = name
    data["layers"] = [r.as_dict() for r in rows]
    data["training_memory_bytes"] = dict(result.memory(batch, optimizer), batch=batch, optimizer=optimizer)
    data["notes"] = notes + list(data.get("notes") or [])
    return plain(data)


def model_and_shape(model, input_shape, classes, options, network=None, trust=False, notes=None):
    """(network, (C, H, W), display name) from any model form (a registered name, PATH.py:NAME,
    a layer spec, a Python class / builder / instance; cnnkit.models.source) or a checkpoint path
    (cnnkit's, or another loop's weights: what their loading assumed is appended to `notes`)."""
    from pathlib import Path

    from cnnkit.arith.parse import format_sizes
    from cnnkit.models.source import build_model, kind_of
    from cnnkit.registry import get_spec

    shape = _shape(input_shape) if input_shape is not None else None
    kind = kind_of(model)
    if kind == "python" and not isinstance(model, type) and hasattr(model, "state_dict"):  # an nn.Module built in a notebook
        if shape is None:
            raise SpecError("give the input shape of a model object, e.g. summary(net, input='3x32x32')")
        if classes is not None or options:
            raise SpecError("classes and options apply to registered model names, not to a model object")
        return model, shape, type(model).__name__
    name = str(model) if isinstance(model, (str, Path)) else None
    if kind == "registry" and (Path(name).suffix in (".pt", ".pth") or Path(name).exists()):
        from cnnkit.engine.checkpoint import read_checkpoint
        from cnnkit.engine.rebuild import LoadOptions, load

        ck = read_checkpoint(name, trust)
        if classes is not None:
            raise SpecError("--classes does not apply to a checkpoint: its weights fix the number of classes")
        if not ck.foreign and (options or network):
            raise SpecError("--opt and --model do not apply to a checkpoint written by cnnkit train: it stores its own model")
        # a cnnkit checkpoint records its input; --input then only changes the summary's shape
        ck, net = load(ck, LoadOptions(model=network, options=options, input_shape=shape if ck.foreign else None))
        if notes is not None:
            notes.extend(n for n in ck.notes if not n.startswith(("no normalisation", "no class names")))
        label = name if not ck.foreign else f"{name} ({ck.model_name})"
        return net, shape or ck.input_shape, label
    if kind == "spec":
        if classes is not None:
            raise SpecError("--classes does not apply to a layer spec: its last layer's size is in the spec")
        net = build_model(name, options=options)
        spec_shape = _spec_input(net)
        if shape is not None and tuple(shape) != spec_shape:
            raise SpecError(f"--input {format_sizes(shape)} differs from the spec's input {format_sizes(spec_shape)}; "
                            "the spec's first segment is the input shape")
        return net, spec_shape, net.cnnkit_config["name"]
    if kind in ("file", "python"):
        shape = shape or (3, 32, 32)  # the course's images; --input changes it
        if len(shape) != 3:
            raise SpecError("--input must be C x H x W, e.g. 3x32x32")
        net = build_model(model, num_classes=classes, in_channels=shape[0], options=options)
        return net, shape, name or net.cnnkit_config["name"]
    spec = get_spec(name)
    shape = shape or spec.input_shape
    if len(shape) != 3:
        raise SpecError(f"--input must be C x H x W, e.g. {format_sizes(spec.input_shape)}")
    return build_model(name, num_classes=classes, input_shape=shape, options=options), shape, name


def _spec_input(net) -> tuple:
    from cnnkit.arith.spec import parse_spec

    return tuple(parse_spec(net.cnnkit_config["source"]["spec"])[0])


def _shape(value) -> tuple:
    from cnnkit.arith.parse import parse_sizes

    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return parse_sizes(value, "input shape")


def run_summary(net, shape, name):
    from cnnkit.arith.parse import format_sizes
    from cnnkit.model_summary import summarize

    try:
        return summarize(net, shape)
    except RuntimeError as e:  # a shape the model cannot take
        first = str(e).splitlines()[0]
        if "can't allocate memory" in first or "out of memory" in first.lower():
            import re

            wanted = re.search(r"allocate (\d+) bytes", first)
            size = f" (one activation of {int(wanted.group(1)) / 2**30:,.1f} GiB)" if wanted else ""
            raise SpecError(f"{name} on input {format_sizes(shape)} needs more memory than this machine has{size}; "
                            "summarise a smaller --input: shapes and MACs scale with it (and parameters do not, after "
                            "global pooling)") from None
        raise SpecError(f"{name} cannot run on input {format_sizes(shape)}: {first}") from None
