import pytest
import torch

from cnnkit.engine.optim import OPTIMIZERS, build_optimizer, lr_multiplier, parse_switch
from cnnkit.errors import CnnkitError


def test_schedules_have_the_documented_shape():
    total = 100
    cos = [lr_multiplier("cosine", s, total, 0, 0) for s in range(total + 1)]
    assert cos[0] == 1 and cos[-1] == pytest.approx(0, abs=1e-12) and cos[50] == pytest.approx(0.5)
    one = [lr_multiplier("onecycle", s, total, 0, 0) for s in range(total)]
    assert max(one) == 1 and one.index(1) == 24 and one[0] < 0.05 and one[-1] < 0.02
    warm = [lr_multiplier("none", s, total, 10, 0) for s in range(20)]
    assert warm[0] == pytest.approx(0.1) and warm[9:] == [1.0] * 11
    assert lr_multiplier("step", 25, total, 0, 10) == pytest.approx(0.01)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_builds_and_steps(name):
    w = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer(name, [{"params": [w]}], lr=0.1)
    (w**2).sum().backward()
    opt.step()
    assert (w < 1).all()


def test_head_lr_scale():
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer("sgd", [{"params": [a]}, {"params": [b], "lr_scale": 10}], lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.01, pytest.approx(0.1)]


def test_switch_phases():
    phases = parse_switch("7:sgd:0.01", 10, "adam", 1e-3)
    assert [(p.start, p.end, p.optimizer, p.lr) for p in phases] == [(0, 6, "adam", 1e-3), (6, 10, "sgd", 0.01)]
    for bad in ("sgd", "1:sgd", "11:sgd", "3:nope"):
        with pytest.raises(CnnkitError):
            parse_switch(bad, 10, "adam", 1e-3)
