"""Pretrained weights through torchvision's weights API, with an offline-friendly error."""

from __future__ import annotations

import os
from urllib.error import URLError

from cnnkit.errors import CnnkitError


def load_resnet18_imagenet() -> dict:
    """ImageNet state dict of torchvision's ResNet-18 (IMAGENET1K_V1).

    torchvision looks in <torch hub dir>/checkpoints first and downloads only when
    the file is missing; without a network that download fails, and the error
    says which file to fetch and where to put it.
    """
    import torch
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    filename = os.path.basename(weights.url)
    try:
        return weights.get_state_dict(progress=False)
    except (URLError, OSError, RuntimeError) as e:
        raise CnnkitError(
            f"cannot load pretrained ResNet-18 weights: {filename} is not in {folder} and downloading it failed "
            f"({type(e).__name__}: {e}); download {weights.url} on a machine with internet and copy it to "
            f"{os.path.join(folder, filename)} (or set TORCH_HOME), or train without --pretrained"
        ) from None
