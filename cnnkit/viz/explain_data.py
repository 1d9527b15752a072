"""The numbers of the attribution figure (`cnnkit visualize attribution`, `cnnkit explore`):
one image's attribution map for a class, with the probabilities and the layer used."""

from __future__ import annotations

import torch

from cnnkit.engine.checkpoint import Checkpoint
from cnnkit.engine.inference import image_notes, prepare_image, source_shape
from cnnkit.errors import CnnkitError


def explain_image(ckpt: Checkpoint, model, image, method: str, target=None, layer=None, model_name: str | None = None) -> dict:
    """An attribution map for one image: {'image', 'map' (H, W), 'map_size', 'layer', 'target',
    'target_name', 'probability', 'predicted_name', 'notes'}; the target defaults to the
    predicted class. Grad-CAM uses `layer`, else the model spec's gradcam_layer when its
    map is larger than 1x1 at this input, else the last layer that is (viz.target_layer)."""
    from cnnkit.viz.attribution import check_relus

    if ckpt.task != "classification":  # before reading the image: the model is the first thing wrong
        raise CnnkitError(f"this is a {ckpt.task} model; attribution explains a class decision")
    if method in ("guided-backprop", "deconvolution"):
        check_relus(model, method, ckpt.model_name)
    source = source_shape(image)
    x, img = prepare_image(ckpt, image)
    return explain_tensor(ckpt, model, x, img, method, target, layer, image_notes(source, tuple(img.shape)))


def explain_tensor(ckpt: Checkpoint, model, x: torch.Tensor, img: torch.Tensor, method: str, target=None, layer=None,
                   notes: list | None = None) -> dict:
    """explain_image for an image already preprocessed: x (1, C, H, W) as `preprocess` gives it,
    img the (C, H, W) uint8 image it came from (`cnnkit explore` keeps its inputs so)."""
    from cnnkit.models.source import layer_hints
    from cnnkit.viz.attribution import attribute, check_relus
    from cnnkit.viz.target_layer import check_layer, spatial_layer

    if ckpt.task != "classification":
        raise CnnkitError(f"this is a {ckpt.task} model; attribution explains a class decision")
    if method in ("guided-backprop", "deconvolution"):
        check_relus(model, method, ckpt.model_name)
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    names = ckpt.names_for(len(probs))
    cls = int(probs.argmax()) if target is None else target
    if not 0 <= cls < len(probs):
        raise CnnkitError(f"--target {cls} is not a class index (0..{len(probs) - 1})")
    used = None
    if method == "gradcam":
        if layer:
            check_layer(model, x, layer)
            used = layer
        else:
            used, _ = spatial_layer(model, x, layer_hints(ckpt.model_record)[1])  # a registered model's own choice, else found
    a = attribute(model, x, method, cls, used)
    return {"image": img, "map": a["map"], "map_size": list(a["map_size"]), "layer": used, "target": cls,
            "target_name": names[cls], "probability": float(probs[cls]), "predicted_name": names[int(probs.argmax())],
            "notes": list(notes or [])}
