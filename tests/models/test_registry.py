"""The registry: names, presets, options, errors."""

from __future__ import annotations

import pytest
import torch.nn as nn

from cnnkit import registry
from cnnkit.errors import CnnkitError
from cnnkit.registry import create_model, get_spec, list_models, register_model


def test_duplicate_names_are_refused():
    list_models()  # the built-in models are registered (as for any user) before a name is reused
    with pytest.raises(ValueError, match="already registered"):
        register_model("convnet", task="classification", input_shape=(3, 32, 32), num_classes=10,
                       description="x", first_conv="a", gradcam_layer="b", builder=lambda **k: nn.Identity())


def test_unknown_name_lists_close_matches():
    with pytest.raises(registry.UnknownModelError, match="did you mean resnet18"):
        get_spec("resnet19")


def test_list_models_pattern_and_task():
    assert list_models("resnet*") == ["resnet18", "resnet18-cifar", "resnet18-strided"]
    assert set(list_models(task="segmentation")) == {"fcn", "unet"}
    with pytest.raises(CnnkitError):
        list_models(task="detection")


def test_create_model_ignores_unset_options_and_records_its_config():
    m = create_model("convnet", num_classes=None, batchnorm=None, dropout=0.1)
    cfg = m.cnnkit_config
    assert cfg["name"] == "convnet" and cfg["kwargs"]["dropout"] == 0.1 and cfg["kwargs"]["num_classes"] == 10
    rebuilt = create_model(cfg["name"], **cfg["kwargs"])
    assert str(rebuilt) == str(m)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(CnnkitError, match="has no option depht.*depth"):
        create_model("unet", depht=3)


def test_preset_options_cannot_be_contradicted():
    with pytest.raises(CnnkitError, match="preset"):
        create_model("convnet-net2", dropout=0.5)
    assert get_spec("convnet-net2").options()["dropout"] == 0.05


def test_variants_are_keyword_arguments_of_one_builder():
    assert get_spec("convnet-net1").builder is get_spec("convnet").builder
    assert get_spec("resnet18-cifar").builder is get_spec("resnet18-strided").builder is get_spec("resnet18").builder


def test_a_renamed_model_still_builds_from_its_old_name():
    from cnnkit.registry import RENAMED, create_model

    for old, new in RENAMED.items():
        a, b = create_model(old, num_classes=10), create_model(new, num_classes=10)
        assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]
