"""The speed-run elements (airbench94's method), each checked for what it claims,
against hand-written formulas and PyTorch itself. CPU only, tiny models, seconds."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.data.augment import Augment
from cnnkit.data.loader import BatchLoader
from cnnkit.data.splits import Split
from cnnkit.engine.airbench import FreezeAfter, Lookahead, batchnorm_biases, set_bn_momentum, to_model_dtype
from cnnkit.engine.tta import forward_tta, tta_views
from cnnkit.errors import CnnkitError


def _numbered_split(n=40, h=6, w=7):
    """Random images whose target is their own index, so a batch says which images it holds."""
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8), torch.arange(n))


def _orientations(loader, split, epoch):
    """{image index: True if mirrored} over one epoch (identity: translate off, normalisation fixed)."""
    loader.set_epoch(epoch)
    seen = {}
    for x, y in loader:
        for img, i in zip(x, y.tolist()):
            src = split.images[i].float() / 255
            mirrored, same = torch.equal(img, src.flip(-1)), torch.equal(img, src)
            assert mirrored or same, "the loader produced something other than the image or its mirror"
            seen[i] = mirrored
    return seen


@pytest.mark.parametrize("alternating", [True, False])
def test_alternating_flip_shows_every_image_both_ways_over_two_epochs(alternating):
    split = _numbered_split()
    loader = BatchLoader(split, 8, augment=Augment(flip=True), shuffle=True, seed=3, alternating_flip=alternating,
                         normalization={"mean": [0.0] * 3, "std": [1.0] * 3})
    e0, e1, e2 = (_orientations(loader, split, e) for e in range(3))
    assert set(e0) == set(e1) == set(range(40))
    both_ways = [e0[i] != e1[i] for i in range(40)]
    if alternating:
        assert all(both_ways)  # every image mirrored in exactly one of any two consecutive epochs
        assert e2 == e0  # and the pattern repeats
        assert 5 < sum(e0.values()) < 35  # epoch 0 itself is a coin toss per image
    else:
        assert not all(both_ways)  # coin tosses: some image keeps its orientation (P(all flip) = 2**-40)


def test_alternating_flip_also_moves_the_translation_windows():
    split = _numbered_split()
    loader = BatchLoader(split, 8, augment=Augment(flip=True, translate=2), shuffle=True, seed=1, alternating_flip=True)
    x0 = torch.cat([x for x, _ in loader])
    loader.set_epoch(1)
    x1 = torch.cat([x for x, _ in loader])
    assert x0.shape == x1.shape and not torch.equal(x0, x1)


def test_tta_views_are_exactly_the_named_ones():
    x = torch.randn(2, 3, 5, 6)
    assert [(w, m) for w, _, m in tta_views(x, "none")] == [(1.0, False)]
    mirror = tta_views(x, "mirror")
    assert [w for w, _, _ in mirror] == [0.5, 0.5]
    assert torch.equal(mirror[0][1], x) and torch.equal(mirror[1][1], x.flip(-1))
    views = tta_views(x, "mirror+translate")
    assert sum(w for w, _, _ in views) == pytest.approx(1.0)
    assert [w for w, _, _ in views] == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    # oracle: explicit indices with reflection at the border (index -1 -> 1, index n -> n - 2)
    refl = lambda i, n: -i if i < 0 else 2 * (n - 1) - i if i >= n else i
    rows = lambda d: [refl(i + d, 5) for i in range(5)]
    cols = lambda d: [refl(j + d, 6) for j in range(6)]
    down_right = x[:, :, rows(-1)][:, :, :, cols(-1)]  # out[i, j] = x[i-1, j-1]
    up_left = x[:, :, rows(1)][:, :, :, cols(1)]  # out[i, j] = x[i+1, j+1]
    expected = [x, x.flip(-1), down_right, down_right.flip(-1), up_left, up_left.flip(-1)]
    for (_, view, mirrored), want, m in zip(views, expected, [False, True] * 3):
        assert torch.equal(view, want) and mirrored == m
    with pytest.raises(CnnkitError, match="TTA level"):
        tta_views(x, "rotate")


def test_forward_tta_averages_the_views_and_refuses_translate_for_segmentation():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 6, 4))
    x = torch.randn(2, 3, 5, 6)
    got = forward_tta(net, x, "classification", "mirror+translate")
    want = sum(w * net(v) for w, v, _ in tta_views(x, "mirror+translate"))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(forward_tta(net, x, "classification", True), (net(x) + net(x.flip(-1))) / 2)
    with pytest.raises(CnnkitError, match="classification"):
        forward_tta(nn.Identity(), x, "segmentation", "mirror+translate")


def _bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))


def test_lookahead_weights_equal_the_formula():
    net = _bn_net()
    la = Lookahead(net, every=5, start_epoch=3)
    trainer = SimpleNamespace(step=5, total_steps=40)
    la.on_step(trainer, epoch=2)  # before the start epoch: nothing
    assert la.average is None
    start = {k: v.clone() for k, v in net.state_dict().items()}
    la.on_step(trainer, epoch=3)  # first qualifying step: the average starts at the live weights
    trainer.step = 7
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.add_(2.0)
    la.on_step(trainer, epoch=3)  # not a multiple of 5: nothing
    assert torch.equal(net[0].weight, start["0.weight"] + 1)
    trainer.step = 10
    live = {k: v.clone() for k, v in net.state_dict().items()}
    la.on_step(trainer, epoch=3)
    rho = 0.95**5 * (10 / 40) ** 3
    for k, v in net.state_dict().items():
        if v.is_floating_point():  # avg + (1 - rho) (live - avg), and the live weights set to it
            torch.testing.assert_close(v, start[k] + (1 - rho) * (live[k] - start[k]))
        else:  # num_batches_tracked is a counter, not averaged
            assert torch.equal(v, live[k])
    averaged = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(5.0)
    la.on_epoch_end(trainer, 3)  # the epoch ends on the average
    assert torch.equal(net[0].weight, averaged["0.weight"])
    state = la.state_dict()
    again = Lookahead(_bn_net())
    again.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(again.average, la.average))


def test_freeze_after_stops_the_parameter_changing():
    net = _bn_net()
    bias = net[0].bias
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    hook = FreezeAfter([bias], epochs=2)
    history = []
    for epoch in range(4):
        hook.on_epoch_start(None, epoch)
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            net(torch.randn(8, 3, 6, 6)).sum().backward()
            opt.step()
        history.append(bias.detach().clone())
    assert not torch.equal(history[0], history[1])  # trained in epochs 0 and 1
    assert torch.equal(history[1], history[2]) and torch.equal(history[2], history[3])  # then frozen: no momentum, no decay


def test_whitening_bias_stops_changing_after_epoch_n_in_a_run(tmp_path, monkeypatch):
    import cnnkit.engine.run as engine
    from cnnkit.engine.plan import make_config

    models, seen = [], []
    real_build = engine.build

    def spy(*args, **kwargs):  # keep a handle on the model the run trains
        out = real_build(*args, **kwargs)
        models.append(out.model)
        return out

    def progress(event, **info):
        if event == "epoch":
            seen.append(models[0].features.stem[0].bias.detach().clone())

    monkeypatch.setattr(engine, "build", spy)
    config, ds = make_config("airbench", "shapes:n=160,size=16", {
        "model_options": {"widths": (8, 8)}, "epochs": 3, "batch_size": 32, "recipe": "default", "device": "cpu",
        "whiten_bias_epochs": 1, "out": str(tmp_path / "r"), "data_dir": str(tmp_path / "data")})
    engine.run_training(config, ds, progress)
    assert len(seen) == 3
    assert seen[0].abs().sum() > 0  # trained in epoch 1 (it starts at zero)
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])


def test_whiten_bias_epochs_needs_a_whitening_layer(tmp_path):
    from cnnkit.engine.plan import make_config
    from cnnkit.engine.run import run_training

    config, ds = make_config("convnet", "shapes:n=64,size=16", {"epochs": 1, "whiten_bias_epochs": 3, "device": "cpu",
                                                               "out": str(tmp_path / "r"), "data_dir": str(tmp_path / "d")})
    with pytest.raises(CnnkitError, match="no whitening layer"):
        run_training(config, ds)


def test_bias_params_get_the_scaled_lr_and_the_same_decay_per_step():
    from cnnkit.engine.build import param_groups
    from cnnkit.engine.config import TrainConfig
    from cnnkit.engine.optim import build_optimizer

    net = _bn_net()
    config = TrainConfig(model="x", lr=0.5, weight_decay=1e-3, bias_lr_scale=64.0)
    groups = param_groups(net, config)
    opt = build_optimizer("sgd", groups, config.lr, 0.9, True, config.weight_decay)
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert batchnorm_biases(net) == {id(net[1].bias)}
    for name, p in net.named_parameters():
        g = by_param[id(p)]
        if name == "1.bias":
            assert g["lr"] == pytest.approx(0.5 * 64) and g["weight_decay"] == pytest.approx(1e-3 / 64)
        else:
            assert g["lr"] == pytest.approx(0.5) and g["weight_decay"] == pytest.approx(1e-3)
        assert g["lr"] * g["weight_decay"] == pytest.approx(0.5 * 1e-3)  # decay per step unchanged


def test_bn_momentum_is_set_and_means_the_weight_of_the_new_batch():
    net = _bn_net()
    assert set_bn_momentum(net, 0.4) == 1 and net[1].momentum == 0.4
    x = torch.randn(16, 3, 6, 6)
    net.train()(x)
    batch_mean = net[0](x).mean(dim=(0, 2, 3))
    torch.testing.assert_close(net[1].running_mean, 0.6 * torch.zeros(4) + 0.4 * batch_mean.detach())
    from cnnkit.registry import create_model

    airbench = create_model("airbench")
    assert {m.momentum for m in airbench.modules() if isinstance(m, nn.BatchNorm2d)} == {0.4}  # airbench's 0.6 decay


def test_loss_scale_with_divided_lr_gives_the_same_sgd_update():
    """What fp16 training does (loss x S, lr / S, decay x S) against plain SGD, in float64."""
    torch.manual_seed(0)
    a = nn.Linear(5, 3).double()
    b = nn.Linear(5, 3).double()
    b.load_state_dict(a.state_dict())
    s = 1024.0
    oa = torch.optim.SGD(a.parameters(), lr=0.3, momentum=0.85, nesterov=True, weight_decay=1e-3)
    ob = torch.optim.SGD(b.parameters(), lr=0.3 / s, momentum=0.85, nesterov=True, weight_decay=1e-3 * s)
    for _ in range(3):
        x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
        for net, opt, scale in ((a, oa, 1.0), (b, ob, s)):
            opt.zero_grad()
            (F.cross_entropy(net(x), y) * scale).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_half_weights_keep_batch_norm_in_float_and_train_on_cpu_in_bf16():
    from cnnkit.engine.device import resolve_model_dtype

    assert resolve_model_dtype("auto", torch.device("cpu")) is None
    with pytest.raises(CnnkitError, match="CUDA"):
        resolve_model_dtype("fp16", torch.device("cpu"))
    net = to_model_dtype(_bn_net(), torch.bfloat16)
    assert net[0].weight.dtype == torch.bfloat16 and net[1].weight.dtype == torch.float32
    out = net(torch.randn(4, 3, 6, 6, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_fractional_epochs_and_the_whole_speedrun_recipe_run(tmp_path):
    """cifar-speedrun's elements together, 1.5 epochs: the second epoch stops half way."""
    from cnnkit.engine.plan import make_config
    from cnnkit.engine.run import run_training

    config, ds = make_config("airbench", "shapes:n=200,size=16", {
        "recipe": "cifar-speedrun", "model_options": {"widths": (8, 8)}, "epochs": 1.5, "batch_size": 32, "device": "cpu",
        "lookahead_start": 0, "lookahead_every": 2, "out": str(tmp_path / "r"), "data_dir": str(tmp_path / "d")})
    summary = run_training(config, ds)
    from cnnkit.engine.rundir import read_metrics

    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    steps = math.ceil(int(rows[0]["train_images"]) / 32)  # batches in a whole epoch
    assert len(rows) == 2
    assert int(rows[1]["train_images"]) == 32 * (math.ceil(1.5 * steps) - steps)  # ceil(1.5 x steps) steps in all
    assert summary["model_dtype"] == "float32" and 0 <= summary["test_accuracy"] <= 1
    assert summary["warmup_seconds"] >= 0 and summary["steady_images_per_second"] > 0
    from cnnkit.engine.evaluate import evaluate_checkpoint

    again = evaluate_checkpoint(tmp_path / "r" / "best.pt", data_dir=str(tmp_path / "d"), device="cpu")
    assert again["accuracy"] == pytest.approx(summary["test_accuracy"])  # evaluate uses the run's six-view TTA too


def test_triangle_schedule_is_airbench_shape():
    from cnnkit.engine.optim import lr_multiplier

    total = 100
    for step, want in ((0, 0.2), (23, 1.0), (100, 0.07), (11, 0.2 + 0.8 * 11 / 23), (60, 1.0 + (0.07 - 1.0) * 37 / 77)):
        assert lr_multiplier("triangle", step, total, 0, 1) == pytest.approx(want)


def test_warmup_split():
    from cnnkit.engine.run import warmup_split

    rows = [{"train_seconds": 5.0, "train_images": 100, "train_images_per_second": 20.0},
            {"train_seconds": 1.0, "train_images": 100, "train_images_per_second": 100.0},
            {"train_seconds": 2.0, "train_images": 100, "train_images_per_second": 50.0},
            {"train_seconds": 0.5, "train_images": 50, "train_images_per_second": 100.0}]
    got = warmup_split(rows)
    assert got["steady_images_per_second"] == pytest.approx(100.0)  # median of 100, 50, 100
    assert got["warmup_seconds"] == pytest.approx(4.0)  # epoch 1 took 5 s for 1 s of images at that rate


def test_tta_switch_wins_over_the_level():
    """--no-tta (or the data policy on data where a mirror changes the label) switches every view off."""
    from cnnkit.engine.config import TrainConfig
    from cnnkit.engine.tta import tta_of

    assert tta_of({"tta": False, "tta_level": "mirror+translate"}) == "none"
    assert tta_of({"tta": True}) == "mirror"
    assert tta_of(TrainConfig(model="x", tta=True, tta_level="mirror+translate")) == "mirror+translate"
    assert tta_of(TrainConfig(model="x")) == "none"


def test_an_epoch_copies_its_indices_and_draws_to_the_device_once(monkeypatch):
    """Not one host-to-device copy per batch: order, windows and flips go over once per epoch."""
    import cnnkit.data.loader as loader_module

    calls = []
    real = loader_module._to_device
    monkeypatch.setattr(loader_module, "_to_device", lambda t, device: calls.append(t.shape) or real(t, device))
    split = _numbered_split(n=64)
    for batch in (4, 16):
        calls.clear()
        loader = BatchLoader(split, batch, augment=Augment(flip=True, translate=2, cutout=2), shuffle=True)
        assert len(list(loader)) == 64 // batch
        assert len(calls) == 4  # sample indices, row windows, column windows, cutout centres


@pytest.mark.parametrize("args, fragment", [
    (["--tta", "--tta-level", "rotate"], "--tta-level"),
    (["--alternating-flip", "--augment", "translate=2"], "add flip to --augment"),
    (["--bias-lr-scale", "0"], "--bias-lr-scale"),
    (["--bn-momentum", "1.5"], "--bn-momentum"),
    (["--model-dtype", "fp8"], "--model-dtype"),
    (["--epochs", "0.5"], "--epochs"),
])
def test_speed_options_bad_input_is_one_clean_error(cli, tmp_path, args, fragment):
    from tests.conftest import assert_clean_error

    assert_clean_error(cli("train", "speednet-cpu", "-d", "shapes:n=64,size=16", "-o", tmp_path / "r", *args), fragment)


def test_fp16_weights_on_a_cpu_is_one_clean_error(cli, tmp_path):
    import torch

    from tests.conftest import assert_clean_error

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, where fp16 weights are allowed")
    assert_clean_error(cli("train", "speednet-cpu", "-d", "shapes:n=64,size=16", "--device", "cpu", "--model-dtype", "fp16",
                           "-o", tmp_path / "r"), "CUDA")
