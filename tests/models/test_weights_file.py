"""--weights FILE: pretrained weights from a local file, checked against the model."""

from __future__ import annotations

import pytest
import torch

from cnnkit.engine.build import build_model
from cnnkit.engine.plan import make_config
from cnnkit.errors import CnnkitError
from cnnkit.registry import create_for_input

DATA = "shapes:n=60,size=16"
OPTS = {"widths": (4, 8)}


def _config(tmp_path, **flags):
    return make_config("convnet", DATA, {"data_dir": str(tmp_path / "cache"), "device": "cpu", "epochs": 1,
                                         "model_options": dict(OPTS), **flags})


def _source(classes, **opts):
    torch.manual_seed(7)
    return create_for_input("convnet", (3, 16, 16), classes, **{**OPTS, **opts})


@pytest.mark.parametrize("layout", ["bare", "lightning", "training_loop"])
def test_weights_are_loaded_from_every_common_layout(tmp_path, layout):
    config, ds = _config(tmp_path)
    src = _source(ds.num_classes)
    state = src.state_dict()
    data = {"bare": state,
            "lightning": {"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 3,
                          "pytorch-lightning_version": "2.4.0"},  # what trainer.save_checkpoint writes
            "training_loop": {"model_state_dict": state, "optimizer_state_dict": {}, "epoch": 3}}[layout]
    torch.save(data, tmp_path / "w.pt")
    config, ds = _config(tmp_path, weights=str(tmp_path / "w.pt"))
    notes = config.policy["notes"]
    assert any(n.startswith(f"weights from {tmp_path / 'w.pt'}: {len(state)} tensors checked") for n in notes)
    # the shared reader (cnnkit/foreign.py, as evaluate / predict read such files) says what it removed
    assert any("removed the 'model.' prefix Lightning puts before every key" in n for n in notes) == (layout == "lightning")
    model = build_model(config, ds.input_shape, ds.num_classes)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_another_number_of_classes_keeps_the_head_random_and_says_so(tmp_path):
    config, ds = _config(tmp_path)
    src = _source(ds.num_classes + 3)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    config, ds = _config(tmp_path, weights=str(tmp_path / "w.pt"))
    head = [n for n in config.policy["notes"] if "is the head" in n]
    assert len(head) == 1 and f"{ds.num_classes + 3}x" in head[0] and "randomly initialised" in head[0]
    model = build_model(config, ds.input_shape, ds.num_classes)
    got, want = model.state_dict(), src.state_dict()
    last = [n for n, _ in model.named_parameters()][-1].rsplit(".", 1)[0]
    for k in got:
        if not k.startswith(last + "."):
            assert torch.equal(got[k], want[k]), k
    # a frozen backbone on these weights is a real feature extractor: allowed
    config, _ = _config(tmp_path, weights=str(tmp_path / "w.pt"), freeze="backbone")
    assert config.freeze == "backbone"


def test_weights_of_another_architecture_are_refused_naming_the_keys(tmp_path):
    config, ds = _config(tmp_path)
    torch.save(_source(ds.num_classes, widths=(8, 16)).state_dict(), tmp_path / "wide.pt")
    with pytest.raises(CnnkitError, match=r"does not fit this model: shapes differ: features.conv1.weight 8x3x5x5 in the file, 4x3x5x5 in the model"):
        _config(tmp_path, weights=str(tmp_path / "wide.pt"))
    state = _source(ds.num_classes).state_dict()
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(CnnkitError, match=r"1 not in the model \(extra.weight\)"):
        _config(tmp_path, weights=str(tmp_path / "extra.pt"))


def test_files_that_are_not_safe_weights_are_refused(tmp_path, cli):
    from tests.conftest import assert_clean_error

    (tmp_path / "notes.txt").write_text("not weights")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "nostate.pt")
    torch.save({"fn": torch.nn.ReLU()}, tmp_path / "code.pt")  # a pickled module: code, refused by weights_only
    base = ["train", "convnet", "-d", DATA, "--epochs", "1", "--opt", "widths=(4,8)", "--data-dir", tmp_path / "cache",
            "-o", tmp_path / "run", "-q"]
    torch.save({"conv.weight": torch.full((2, 3, 1, 1), float("nan"))}, tmp_path / "nan.pt")
    # the wording of all but the first comes from cnnkit/foreign.py, the reader evaluate and predict use too
    for name, fragment in (("missing.pt", "no such file"), ("notes.txt", "not a PyTorch file"),
                           ("nostate.pt", "holds neither a cnnkit checkpoint nor a state dict of weights (its keys: epoch, lr)"),
                           ("code.pt", "holds a whole pickled model"), ("nan.pt", "holds non-finite weights: conv.weight")):
        r = cli(*base, "--weights", tmp_path / name)
        assert_clean_error(r, f"--weights {tmp_path / name}", fragment)
        assert "--trust-checkpoint" not in r.stderr  # train has no such flag
        assert not (tmp_path / "run").exists()
    r = cli(*base, "--weights", tmp_path / "nostate.pt", "--pretrained")
    assert r.exit_code == 2


def test_freezing_without_pretrained_weights_is_refused_on_the_command_line(tmp_path, cli):
    from tests.conftest import assert_clean_error

    r = cli("train", "convnet", "-d", DATA, "--epochs", "1", "--freeze", "backbone", "--data-dir", tmp_path / "cache",
            "-o", tmp_path / "run", "-q")
    assert_clean_error(r, "--freeze backbone without --pretrained", "randomly initialised")
    assert not (tmp_path / "run").exists()
