"""The seven flags for another training loop's weights are declared once (cli/load_flags.py) and
reach the library call of every command that reads a checkpoint, under the api's names."""

import pytest

FLAGS = ["--model", "resnet18", "--opt", "widths=(8,16)", "--input", "3x32x32", "--mean", "0.5,0.4,0.3",
         "--std", "0.2,0.2,0.2", "--classes", "a,b", "--trust-checkpoint"]
EXPECTED = {"model": "resnet18", "options": {"widths": (8, 16)}, "input": "3x32x32", "mean": "0.5,0.4,0.3",
            "std": "0.2,0.2,0.2", "classes": "a,b", "trust_checkpoint": True}


class Called(Exception):
    pass


def _capture(monkeypatch, module, name):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise Called

    monkeypatch.setattr(module, name, fake)
    return seen


@pytest.mark.parametrize("command", [["visualize", "features", "c.pt", "i.png"], ["visualize", "segmentation", "c.pt", "i.png"],
                                     ["visualize", "attribution", "c.pt", "i.png"], ["visualize", "maximize", "c.pt"],
                                     ["visualize", "deconv", "c.pt"]])
def test_every_checkpoint_figure_hands_the_flags_to_its_api_function(cli, monkeypatch, command):
    from cnnkit.api import visualize

    seen = _capture(monkeypatch, visualize, command[1])
    cli(*command, *FLAGS)
    assert {k: seen[k] for k in EXPECTED} == EXPECTED


@pytest.mark.parametrize("command,name", [(["evaluate", "c.pt"], "evaluate"), (["predict", "c.pt", "i.png"], "predict")])
def test_evaluate_and_predict_hand_the_flags_to_the_api(cli, monkeypatch, command, name):
    import cnnkit.api.inference as inference

    seen = _capture(monkeypatch, inference, name)
    cli(*command, *FLAGS)
    assert {k: seen[k] for k in EXPECTED} == EXPECTED


def test_the_flags_sit_before_json_in_help(cli):
    import re

    rows = re.findall(r"^\W*(--[a-z-]+)", cli("predict", "--help").stdout, re.M)  # the options table, in order
    flags = ["--model", "--opt", "--input", "--mean", "--std", "--classes", "--trust-checkpoint", "--json"]
    assert [f for f in rows if f in flags] == flags
