"""The data-aware default policy on small synthetic stand-ins: grey digits, colour photos,
a 30-image segmentation set, masks with a void value. No training: make_config only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import diagnose
from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.check import check_dataset
from cnnkit.engine import policy
from cnnkit.engine.build import drop_last as _drop_last
from cnnkit.engine.plan import make_config


def _class_folder(root, classes=4, per_class=40, size=28, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            shape = (size, size) if channels == 1 else (size, size, 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(d / f"{i:03d}.png")
    return root


def _seg_folder(root, n=30, size=64, channels=1, values=(0, 255), void=None, seed=0):
    """n image/mask pairs; masks hold `values` in vertical bands and `void` in a corner."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        shape = (size, size) if channels == 1 else (size, size, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / "images" / f"{i:02d}.png")
        mask = np.zeros((size, size), np.uint8)
        bands = np.array_split(np.arange(size), len(values))
        for v, cols in zip(values, bands):
            mask[:, cols] = v
        if void is not None:
            mask[:8, :8] = void
        Image.fromarray(mask).save(root / "masks" / f"{i:02d}.png")
    return root


def _config(model, dataset, tmp_path, **flags):
    return make_config(model, dataset, {"data_dir": str(tmp_path / "cache"), "device": "cpu", **flags})


def _choice(config, setting):
    return next(c for c in config.policy["choices"] if c["setting"] == setting)


# ------------------------------------------------------------------ augmentation


def test_flips_follow_what_keeps_the_label():
    assert diagnose.flips_for("mnist", "classification", 1)[0] == ()
    assert diagnose.flips_for("svhn", "classification", 3)[0] == ()  # colour digits: colour is no licence to mirror
    assert diagnose.flips_for("gtsrb", "classification", 3)[0] == ()
    assert diagnose.flips_for("cifar10", "classification", 3)[0] == ("flip",)
    assert diagnose.flips_for("fashion-mnist", "classification", 1)[0] == ("flip",)  # grey, but clothes mirror fine
    assert diagnose.flips_for("oxford-pets", "segmentation", 3)[0] == ("flip",)
    assert diagnose.flips_for("folder:x", "classification", 1)[0] == ()
    assert diagnose.flips_for("folder:x", "classification", 3)[0] == ("flip",)
    assert diagnose.flips_for("segfolder:x", "segmentation", 1)[0] == ("flip", "vflip")  # microscopy-like
    assert diagnose.flips_for("segfolder:x", "segmentation", 3)[0] == ("flip",)  # street scenes: never upside down
    assert policy.augmentation("flip,translate=2", ()) == "translate=2"
    assert policy.augmentation("flip,vflip", ("flip",)) == "flip"
    assert policy.augmentation("flip", ()) == "none"


def test_grey_digits_get_no_flips_and_the_reason_is_recorded(tmp_path):
    config, _ = _config("lenet5", f"folder:{_class_folder(tmp_path / 'digits')}", tmp_path)
    assert "flip" not in config.augment and "translate=2" in config.augment
    aug = _choice(config, "augment")
    assert aug["source"] == "policy" and "mirror image can change the label" in aug["reason"]
    assert config.to_dict()["policy"]["choices"]  # config.json carries the decisions
    lines = policy.describe(config)
    assert lines[0].startswith("recipe default: SGD lr 0.05") and any(ln.startswith("augment translate=2:") for ln in lines)


def test_your_augment_flag_wins_and_the_printout_says_so(tmp_path):
    config, _ = _config("lenet5", f"folder:{_class_folder(tmp_path / 'digits')}", tmp_path, augment="flip")
    assert config.augment == "flip"
    aug = _choice(config, "augment")
    assert aug["source"] == "flag" and aug["policy_value"] == "translate=2"
    assert any("your flag" in ln and "translate=2" in ln for ln in policy.describe(config))
    assert any("flip may change labels" in n for n in config.policy["notes"])


def test_colour_photos_are_mirrored_not_turned_upside_down(tmp_path):
    config, _ = _config("convnet", f"folder:{_class_folder(tmp_path / 'photos', size=32, channels=3)}", tmp_path)
    items = config.augment.split(",")
    assert "flip" in items and "vflip" not in items


def test_mirror_tta_is_dropped_where_mirrors_change_the_label(tmp_path):
    digits = f"folder:{_class_folder(tmp_path / 'digits')}"
    config, _ = _config("lenet5", digits, tmp_path, recipe="cifar-fast")  # cifar-fast validates with mirror TTA
    assert config.tta is False and _choice(config, "tta")["source"] == "policy"
    assert config.alternating_flip is False and "flip" not in config.augment.split(",")  # nothing to alternate
    config, _ = _config("lenet5", digits, tmp_path, recipe="cifar-fast", tta=True)
    assert config.tta is True  # asked for: yours


# ------------------------------------------------------------------ optimiser


def test_adam_without_lr_takes_adams_rate_not_sgds(tmp_path):
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam")
    assert config.optimizer == "adamw" and config.lr == pytest.approx(1e-3)  # decoupled decay, see below
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam", lr=0.01)
    assert config.lr == 0.01 and _choice(config, "lr")["source"] == "flag"
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path)
    assert config.optimizer == "sgd" and config.lr == 0.05  # the recipe's own pair is kept
    config, _ = _config("unet", "shapes-seg:n=40,size=16", tmp_path, optimizer="sgd")  # segmentation recipe is Adam 2e-3
    assert config.lr == 0.05


def test_adam_gets_decoupled_weight_decay_not_the_recipes_sgd_l2(tmp_path):
    """The default recipe's 5e-4 is an L2 term for SGD; with Adam a practitioner decouples it (AdamW)."""
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam")
    assert (config.optimizer, config.weight_decay) == ("adamw", policy.ADAMW_DECAY)
    lines = policy.describe(config)
    assert "AdamW lr 0.001" in lines[0] and "weight decay 0.01 decoupled" in lines[0]
    assert any(ln.startswith("optimizer adamw: Adam with decoupled weight decay 0.01") and "--weight-decay 0 for plain Adam" in ln
               for ln in lines)
    # a decay you give stays L2, as torch.optim.Adam(weight_decay=...) applies it, and the line says which
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam", weight_decay=1e-4)
    assert (config.optimizer, config.weight_decay) == ("adam", 1e-4)
    assert "weight decay 0.0001 (L2 in the gradient)" in policy.describe(config)[0]
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam", weight_decay=0.0)
    assert (config.optimizer, config.weight_decay) == ("adam", 0.0)
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adamw")  # not SGD's 5e-4, decoupled
    assert (config.optimizer, config.weight_decay) == ("adamw", policy.ADAMW_DECAY)
    assert any(ln.startswith("weight decay 0.01: AdamW's decoupled decay") for ln in policy.describe(config))
    config, _ = _config("unet", "shapes-seg:n=40,size=16", tmp_path, optimizer="adam")  # the recipe is Adam with no decay
    assert (config.optimizer, config.weight_decay) == ("adam", 0.0)


def test_rprop_drops_the_recipes_weight_decay_but_refuses_yours(tmp_path):
    from cnnkit.errors import CnnkitError

    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="rprop")
    assert config.weight_decay == 0.0
    assert any(ln.startswith("weight decay 0: rprop has no weight decay (the recipe default's 0.0005 is left out)")
               for ln in policy.describe(config))
    with pytest.raises(CnnkitError, match="--weight-decay 0.0005: rprop has no weight decay"):
        _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="rprop", weight_decay=5e-4)
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, switch="2:rprop", epochs=3)  # a later rprop phase too
    assert config.weight_decay == 0.0


def test_startup_lines_name_every_setting_that_changes_the_numbers(tmp_path):
    """cifar-fast's label smoothing and six-view TTA are in the lines, not only 'loss ce'."""
    config, _ = _config("speednet-cpu", "shapes:n=10000", tmp_path, epochs=1)
    assert config.recipe == "cifar-fast"
    lines = policy.describe(config)
    assert "loss ce with label smoothing 0.2" in lines[0] and "weight decay 0.0005 (L2 in the gradient)" in lines[0]
    tta = next(ln for ln in lines if ln.startswith("test-time augmentation"))
    assert "test on 6 views" in tta and "validation on 2 views" in tta
    assert any(ln.startswith("also: alternating flips") for ln in lines)
    plain, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, recipe="plain")
    assert not any(ln.startswith(("test-time", "also:")) for ln in policy.describe(plain))
    assert "label smoothing" not in policy.describe(plain)[0]


def test_freezing_a_random_backbone_is_refused(tmp_path):
    from cnnkit.errors import CnnkitError

    with pytest.raises(CnnkitError, match="--freeze backbone without --pretrained .* randomly initialised backbone"):
        _config("convnet", "shapes:n=200,size=16", tmp_path, freeze="backbone")


def test_switch_without_a_rate_takes_the_new_optimisers_rate(tmp_path):
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam", switch="3:sgd", epochs=4)
    assert config.switch == "3:sgd:0.05"


# ------------------------------------------------------------------ the model


def test_the_registry_has_three_plain_relu_nets_and_lenet5_without_normalisation():
    """architecture() reads the built layers, so model options count (convnet batchnorm=True is normalised)."""
    from cnnkit.registry import create_for_input, get_spec, list_models

    plain = {}
    for name in list_models():
        spec = get_spec(name)
        with torch.device("meta"):
            arch = policy.architecture(name, create_for_input(name, tuple(spec.input_shape), spec.num_classes))
        if not arch.normalised:
            plain[name] = arch.relu_like
    assert plain == {"convnet": True, "convnet-net2": True, "signnet": True, "lenet5": False}
    with torch.device("meta"):
        assert policy.architecture("convnet", create_for_input("convnet", (3, 32, 32), 10, batchnorm=True)).normalised


def test_plain_relu_nets_get_gradient_clipping_said_out_loud(tmp_path):
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path)
    assert config.grad_clip == policy.GRAD_CLIP == 2.0
    clip = _choice(config, "grad_clip")
    assert clip["source"] == "policy" and "no normalisation layers" in clip["reason"]
    assert any(ln.startswith("grad clip 2: convnet has ReLU-like units") for ln in policy.describe(config))
    for model in ("convnet-net1", "lenet5"):  # batch norm; saturating tanh units
        config, _ = _config(model, "shapes:n=200,size=16", tmp_path)
        assert config.grad_clip is None and not any(c["setting"] == "grad_clip" for c in config.policy["choices"])
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, model_options={"batchnorm": True})
    assert config.grad_clip is None
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, optimizer="adam")  # Adam's step is bounded by its lr
    assert config.grad_clip is None
    config, _ = _config("unet", "shapes-seg:n=40,size=16", tmp_path, model_options={"batchnorm": False})  # Adam recipe
    assert config.grad_clip is None


def test_your_grad_clip_wins_and_zero_turns_it_off(tmp_path):
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, grad_clip=5.0)
    assert config.grad_clip == 5.0 and _choice(config, "grad_clip")["policy_value"] == 2.0
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, grad_clip=0.0)
    assert config.grad_clip == 0.0
    assert any(ln.startswith("grad clip off (your flag; the data policy would pick 2") for ln in policy.describe(config))


def test_cifar_sized_data_gets_the_speed_recipe_only_with_batch_norm(tmp_path):
    """cifar-fast's lr 0.4 sent the plain convnet's loss to NaN in its first CIFAR-10 epoch."""
    config, _ = _config("convnet-net1", "shapes:n=10000", tmp_path)
    assert config.recipe == "cifar-fast" and "normalisation layers" in config.policy["recipe_reason"]
    config, _ = _config("convnet", "shapes:n=10000", tmp_path)
    assert config.recipe == "default" and config.lr == 0.05
    assert any(ln.startswith("recipe default picked for CIFAR-sized images, but convnet has no normalisation")
               for ln in policy.describe(config))
    config, _ = _config("convnet", "shapes:n=10000", tmp_path, recipe="cifar-fast")  # asked for: yours
    assert config.recipe == "cifar-fast" and config.policy["recipe_reason"] == ""
    assert not any(ln.startswith("recipe cifar-fast picked for") for ln in policy.describe(config))
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path)
    assert config.policy["recipe_reason"] == "small images of any kind"


# ------------------------------------------------------------------ small data


def test_thirty_image_segmentation_set(tmp_path):
    config, ds = _config("unet", f"segfolder:{_seg_folder(tmp_path / 'cells')}", tmp_path)
    n = len(ds.train)
    assert n == 24 and ds.val is None and config.val_split == 0  # 6 test; 2 validation images would decide nothing
    assert config.batch_size == 2
    steps = math.ceil(n / config.batch_size)
    assert steps * config.epochs >= policy.MIN_TOTAL_STEPS and config.epochs <= policy.MAX_EPOCHS
    assert "vflip" in config.augment and "flip" in config.augment.split(",")  # grey microscopy-like: orientation-free
    assert not _drop_last(n, config)  # every training image every epoch
    assert "last epoch" in _choice(config, "val_split")["reason"]


def test_small_classification_set_batch_and_validation(tmp_path):
    config, ds = _config("convnet", "shapes:n=400,size=16", tmp_path)
    counts = torch.bincount(ds.val.targets).tolist()
    assert min(counts) >= policy.MIN_VAL_PER_CLASS
    assert math.ceil(len(ds.train) / config.batch_size) >= 10 and config.batch_size == policy.MIN_BATCH["classification"]
    # the held-out split is the one `evaluate` rebuilds from config.json (catalog's own split)
    again = load_dataset("shapes:n=400,size=16", DataOptions(val_split=config.val_split))
    assert torch.equal(again.val.images, ds.val.images) and torch.equal(again.train.targets, ds.train.targets)
    assert again.normalization == ds.normalization


def test_too_few_images_per_class_means_no_validation_and_a_note(tmp_path):
    config, ds = _config("lenet5", f"folder:{_class_folder(tmp_path / 'tiny', per_class=12)}", tmp_path)
    assert config.val_split == 0 and ds.val is None
    assert "too few" in _choice(config, "val_split")["reason"]


def test_validation_fraction_grows_to_five_per_class(tmp_path):
    config, ds = _config("lenet5", f"folder:{_class_folder(tmp_path / 'few', per_class=40)}", tmp_path)
    # 40 per class -> 32 after the 20% test split: 10% would hold out 3, so 16% holds out 5
    assert config.val_split == pytest.approx(0.16)
    assert torch.bincount(ds.val.targets).min() >= 5


def test_batch_size_flag_wins(tmp_path):
    config, _ = _config("unet", f"segfolder:{_seg_folder(tmp_path / 'cells')}", tmp_path, batch_size=8)
    assert config.batch_size == 8 and _choice(config, "batch_size")["policy_value"] == 2


def test_large_images_train_on_crops(tmp_path):
    config, _ = _config("unet", f"segfolder:{_seg_folder(tmp_path / 'big', n=10, size=512)}", tmp_path)
    assert config.crop == [policy.CROP, policy.CROP]
    config, _ = _config("unet", f"segfolder:{_seg_folder(tmp_path / 'small', n=10, size=64)}", tmp_path)
    assert config.crop is None


def test_large_data_keeps_the_recipes_batch():
    assert policy.batch_size("classification", 45_000, 1024)[0] == 1024  # a speed-run recipe's batch is part of its tuning
    assert policy.batch_size("classification", 45_000, 512)[0] == 512
    assert policy.batch_size("classification", 3_600, 128)[0] == 32  # small: 113 steps an epoch
    assert policy.batch_size("classification", 4_000, 128, world=3)[0] % 3 == 0


def test_drop_last_only_for_a_single_leftover_image():
    class C:
        batch_size, compile = 8, False

    assert not _drop_last(20, C) and _drop_last(17, C) and not _drop_last(8, C)


# ------------------------------------------------------------------ masks


def test_void_value_255_is_named_by_the_run_and_by_data_check(tmp_path):
    root = _seg_folder(tmp_path / "street", n=12, channels=3, values=(0, 1, 2), void=255)
    # loading maps the sparse values 0, 1, 2, 255 to classes 0..3 and keeps what each was, as data
    assert load_dataset(f"segfolder:{root}", DataOptions(data_dir=tmp_path)).mask_class_values == [0, 1, 2, 255]
    config, _ = _config("unet", f"segfolder:{root}", tmp_path)
    notes = " ".join(config.policy["notes"])
    assert "mask value 255" in notes and "--ignore-index 255" in notes
    report = check_dataset(f"segfolder:{root}")
    assert report["void_candidate"] == 255
    assert any("--ignore-index 255" in p["fix"] for p in report["problems"])
    config, _ = _config("unet", f"segfolder:{root}", tmp_path, ignore_index=255)  # told: no warning
    assert not any("looks like" in n for n in config.policy["notes"])


def test_void_value_far_from_the_classes(tmp_path):
    found = diagnose.void_candidate({0: 100, 1: 100, 2: 100, 99: 5})
    assert found["value"] == 99 and found["pixels"] == 5
    assert diagnose.void_candidate({0: 100, 1: 100, 2: 100, 3: 5}) is None  # consecutive classes: nothing to say
    assert diagnose.void_candidate({0: 100, 1: 100, 2: 100, 3: 5}, ["road", "sky", "car", "void"])["value"] == 3
    assert diagnose.void_candidate({0: 100, 255: 100}) is None  # a binary 0/255 mask is foreground, not void


def test_class_imbalance_is_reported_with_numbers(tmp_path):
    root = _seg_folder(tmp_path / "rare", n=12, values=(0,) * 63 + (1,))  # class 1 in one column of 64: 63x
    report = check_dataset(f"segfolder:{root}")
    assert report["imbalance_ratio"] >= diagnose.IMBALANCE["segmentation"]
    text = " ".join(p["problem"] for p in report["problems"])
    assert f"{report['imbalance_ratio']:.0f}x" in text
    config, _ = _config("unet", f"segfolder:{root}", tmp_path)
    assert any("class imbalance" in n for n in config.policy["notes"])


def test_data_check_tells_digits_apart_from_photos(tmp_path):
    digits = check_dataset(f"folder:{_class_folder(tmp_path / 'digits')}")
    assert digits["augmentation_flips"] == [] and any("no flips" in p["problem"] for p in digits["problems"])
    photos = check_dataset(f"folder:{_class_folder(tmp_path / 'photos', size=32, channels=3)}")
    assert photos["augmentation_flips"] == ["flip"]


# ------------------------------------------------------------------ precision

@pytest.mark.parametrize("native", [True, False])
def test_cpu_precision_follows_native_bf16_and_is_recorded(tmp_path, monkeypatch, native):
    from cnnkit.engine import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, precision="auto")
    choice = _choice(config, "precision")
    assert config.precision == choice["value"] == ("bf16" if native else "fp32")  # resolved, so evaluate reuses it
    assert choice["source"] == "policy" and ("natively" in choice["reason"]) == native
    assert any(line.startswith(f"precision {config.precision}: ") for line in policy.describe(config))


def test_precision_flag_wins_on_cpu(tmp_path, monkeypatch):
    from cnnkit.engine import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    config, _ = _config("convnet", "shapes:n=200,size=16", tmp_path, precision="fp32")
    assert config.precision == "fp32" and all(c["setting"] != "precision" for c in config.policy["choices"])
