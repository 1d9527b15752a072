"""A network built only from scratch layers follows torch.nn step for step, and learns."""

import torch
import torch.nn as nn

import cnnkit.scratch as S
from cnnkit.data.catalog import DataOptions, load_dataset


def _data(n):
    ds = load_dataset(f"shapes:n={n},size=16", DataOptions(val_split=0))
    mean = torch.tensor(ds.normalization["mean"], dtype=torch.float64)[:, None, None]
    std = torch.tensor(ds.normalization["std"], dtype=torch.float64)[:, None, None]
    norm = lambda images: (images.double() / 255 - mean) / std
    return norm(ds.train.images), ds.train.targets, norm(ds.test.images), ds.test.targets


def test_scratch_network_follows_torch_step_for_step():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ELU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.0),
                        nn.Linear(16 * 4 * 4, 4)).double()
    scratch = S.Sequential(S.Conv2d(3, 8, 3, padding=1), S.BatchNorm2d(8), S.ReLU(), S.MaxPool2d(2),
                           S.Conv2d(8, 16, 3, padding=1), S.ELU(), S.AvgPool2d(2), S.Flatten(), S.Dropout(0.0),
                           S.Linear(16 * 4 * 4, 4))
    for mine, theirs in zip(scratch.layers, ref):
        for name, p in theirs.named_parameters():
            mine.params[name] = p.detach().clone()
    x_all, y_all, _, _ = _data(320)
    loss_fn = S.SoftmaxCrossEntropy()
    opt = S.SGD(scratch.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    mine, theirs = [], []
    for idx in torch.randperm(len(y_all), generator=torch.Generator().manual_seed(0)).split(32):
        x, y = x_all[idx], y_all[idx]
        loss = loss_fn.forward(scratch.forward(x), y)
        scratch.backward(loss_fn.backward())
        opt.step()
        ref_opt.zero_grad()
        ref_loss = nn.functional.cross_entropy(ref(x), y)
        ref_loss.backward()
        ref_opt.step()
        mine.append(float(loss))
        theirs.append(ref_loss.item())
    assert len(mine) == 10
    assert torch.allclose(torch.tensor(mine), torch.tensor(theirs), rtol=1e-8, atol=1e-10)
    assert torch.allclose(scratch.layers[1].running_var, ref[1].running_var)


def test_scratch_network_learns_shapes():
    x_all, y_all, x_test, y_test = (t.float() if t.is_floating_point() else t for t in _data(2000))
    torch.manual_seed(0)
    net = S.Sequential(S.Conv2d(3, 16, 3, padding=1), S.BatchNorm2d(16), S.ReLU(), S.MaxPool2d(2),
                       S.Conv2d(16, 32, 3, padding=1), S.BatchNorm2d(32), S.ReLU(), S.MaxPool2d(2),
                       S.Conv2d(32, 32, 3, padding=1), S.BatchNorm2d(32), S.ReLU(), S.AvgPool2d(4), S.Flatten(), S.Linear(32, 4))
    loss_fn = S.SoftmaxCrossEntropy()
    opt = S.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _epoch in range(5):
        net.train()
        for idx in torch.randperm(len(y_all), generator=gen).split(32):
            loss_fn.forward(net.forward(x_all[idx]), y_all[idx])
            net.backward(loss_fn.backward())
            opt.step()
    net.eval()
    acc = float((net.forward(x_test).argmax(1) == y_test).double().mean())
    assert acc > 0.45  # chance is 0.25


def test_adam_matches_torch():
    w = torch.randn(5, dtype=torch.float64)
    layer = S.Linear(5, 1)
    layer.params = {"weight": w[None].clone()}
    ref = torch.nn.Parameter(w[None].clone())
    opt, ref_opt = S.Adam([(layer, "weight")], lr=0.1), torch.optim.Adam([ref], lr=0.1)
    for _ in range(5):
        layer.grads["weight"] = 2 * layer.params["weight"]
        opt.step()
        ref_opt.zero_grad()
        (ref**2).sum().backward()
        ref_opt.step()
    assert torch.allclose(layer.params["weight"], ref.detach())
