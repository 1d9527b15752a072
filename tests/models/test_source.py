"""One notion of a model (cnnkit/models/source.py): registered names, PATH.py:NAME files,
layer specs and Python objects build, carry what rebuilds them, and rebuild from a
checkpoint with equal outputs, also after the file changed or was deleted."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from cnnkit.arith.spec import analyse
from cnnkit.engine.checkpoint import checkpoint_dict, load_checkpoint, model_from_checkpoint, save_checkpoint
from cnnkit.errors import CnnkitError
from cnnkit.models.source import build_model, kind_of, rebuild

STUDENT = Path(__file__).parent / "student" / "my_net.py"
SPEC = "3x32x32 | conv 8 k5 p2 | bn | relu | maxpool 2 | conv 16 k3 p1:2 | relu | gap | flatten | linear 4"


@pytest.fixture
def student(tmp_path):
    path = tmp_path / "my_net.py"
    shutil.copy(STUDENT, path)
    return path


def _roundtrip(model, tmp_path, task="classification", **kw):
    ckpt = checkpoint_dict(model, (3, 32, 32), task=task)
    save_checkpoint(tmp_path / "m.pt", ckpt)
    return load_checkpoint(tmp_path / "m.pt")


def _same_outputs(a: nn.Module, b: nn.Module):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))


def test_kinds():
    assert kind_of("convnet") == "registry"
    assert kind_of("my_net.py:Net1") == "file"
    assert kind_of(SPEC) == "spec"
    assert kind_of(nn.Linear) == "python"


def test_registry_name_is_the_registry_model(tmp_path):
    m = build_model("convnet", num_classes=4, input_shape=(3, 32, 32))
    assert m.cnnkit_config["name"] == "convnet" and m.cnnkit_config["source"] == {"kind": "registry"}
    assert m.cnnkit_config["kwargs"]["num_classes"] == 4
    ckpt = _roundtrip(m, tmp_path)
    assert ckpt["task"] == "classification"
    _same_outputs(m, model_from_checkpoint(ckpt))


def test_file_class_gets_classes_from_data_and_options(student, tmp_path):
    m = build_model(f"{student}:Net1", num_classes=4, in_channels=3, options={"width": 8})
    assert m.classifier[-1].out_features == 4 and m.feature_extractor[0].out_channels == 8
    cfg = m.cnnkit_config
    assert cfg["name"] == "Net1" and cfg["kwargs"] == {"width": 8, "num_classes": 4}
    assert cfg["source"]["kind"] == "file" and cfg["source"]["object"] == "Net1"
    assert cfg["source"]["code"] == student.read_text()
    ckpt = _roundtrip(m, tmp_path)
    _same_outputs(m, model_from_checkpoint(ckpt))


def test_file_rebuilds_after_the_file_is_deleted_or_changed(student, tmp_path):
    m = build_model(f"{student}:Net1", num_classes=4, options={"width": 8})
    ckpt = _roundtrip(m, tmp_path)
    student.write_text(student.read_text().replace("width=32", "width=16") + "\n# edited\n")
    notes: list[str] = []
    _same_outputs(m, model_from_checkpoint(ckpt, notes=notes))
    assert len(notes) == 1 and "my_net.py" in notes[0] and "copy" in notes[0] and "differs" in notes[0]
    student.unlink()
    notes.clear()
    _same_outputs(m, model_from_checkpoint(ckpt, notes=notes))
    assert notes == []


def test_builder_function_in_file(student):
    m = build_model(f"{student}:make_net", num_classes=3, in_channels=3)
    assert m[-1].out_features == 3 and m.cnnkit_config["kwargs"] == {"num_classes": 3}


def test_spec_builds_the_modules_layers_prints(tmp_path):
    m = build_model(SPEC, input_shape=(3, 32, 32))
    report = analyse(m.cnnkit_config["source"]["spec"])
    # every row's printed module is the built one (the asymmetric conv behind its zero pad)
    for row, layer in zip(report.rows, m):
        built = layer[-1] if isinstance(layer, nn.Sequential) else layer
        assert repr(built).replace(", stride=(1, 1)", "").startswith(row.module.split("(")[0])
    x = torch.zeros(2, 3, 32, 32)
    assert tuple(m.eval()(x).shape) == (2, 4)
    # parameter counts equal the arithmetic's
    assert sum(p.numel() for p in m.parameters()) == report.total_params
    _same_outputs(m, model_from_checkpoint(_roundtrip(m, tmp_path)))


def test_spec_input_must_match_the_data():
    with pytest.raises(CnnkitError, match="start the spec with 1x28x28"):
        build_model(SPEC, input_shape=(1, 28, 28))


def test_python_class_factory_and_instance(tmp_path):
    class Tiny(nn.Module):
        def __init__(self, num_classes=10, in_channels=3):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, 4, 3)
            self.head = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))

    m = build_model(Tiny, num_classes=5, in_channels=3)
    assert m.head.out_features == 5 and m.cnnkit_config["source"]["kind"] == "python"
    assert "class Tiny" in m.cnnkit_config["source"]["code"]
    _same_outputs(m, model_from_checkpoint(_roundtrip(m, tmp_path)))  # rebuilt from the kept source
    inst = build_model(Tiny(num_classes=10))
    assert inst.head.out_features == 10 and inst.cnnkit_config["kwargs"] == {}
    # an explicit model= wins over the entry
    ckpt = _roundtrip(m, tmp_path)
    _same_outputs(m, model_from_checkpoint(ckpt, model=Tiny))


def test_unrebuildable_python_model_names_the_way_out(tmp_path):
    def make():
        return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.LazyLinear(3))

    m = build_model(make)
    entry = dict(m.cnnkit_config, source=dict(m.cnnkit_config["source"], code=None, module="__main__"))
    with pytest.raises(CnnkitError, match=r"cnnkit.load\(ckpt, model=make\)"):
        rebuild(entry)


@pytest.mark.parametrize("body, fragments", [
    ("import torch.nn as nn\nclass Net1(nn.Module)\n    pass\n", ["my_net.py:2", "syntax error"]),
    ("import torch.nn as nn\nimport no_such_package_xyz\n", ["my_net.py:2", "ModuleNotFoundError"]),
    ("import torch.nn as nn\nclass Other(nn.Module):\n    pass\n", ["no 'Net1'", "Other"]),
    ("Net1 = 3\n", ["is a int", "not an nn.Module"]),
    ("class Net1:\n    pass\n", ["my_net.py:1 (Net1): Net1 is a plain class", "class Net1(nn.Module):"]),
    ("import torch.nn as nn\nclass Net1(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n",
     ["my_net.py:2 (Net1) needs width", "--opt width=VALUE"]),
    ("import torch.nn as nn\nclass Net1(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self.fc = nn.Linear(3, 'x')\n", ["my_net.py:5", "in __init__"]),
])
def test_bad_student_code_is_one_line(tmp_path, body, fragments):
    path = tmp_path / "my_net.py"
    path.write_text(body)
    with pytest.raises(CnnkitError) as e:
        build_model(f"{path}:Net1", num_classes=4, in_channels=3)
    message = str(e.value)
    assert "\n" not in message
    for f in fragments:
        assert f in message, (f, message)


def test_unknown_option_lists_the_arguments(student):
    with pytest.raises(CnnkitError, match="takes no argument depth; its arguments are: num_classes, width"):
        build_model(f"{student}:Net1", options={"depth": 3})


def test_register_model_in_the_students_file(tmp_path):
    path = tmp_path / "reg_net.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn
        import cnnkit

        @cnnkit.register_model("reg-net-test", num_classes=3)
        class RegNet(nn.Module):
            def __init__(self, num_classes=3, width=4):
                super().__init__()
                self.conv = nn.Conv2d(3, width, 3)
                self.fc = nn.Linear(width, num_classes)

            def forward(self, x):
                return self.fc(self.conv(x).mean((2, 3)))
    """))
    from cnnkit.registry import _REGISTRY, get_spec, list_models

    try:
        m = build_model(f"{path}:RegNet", num_classes=3)
        assert "reg-net-test" in list_models()
        assert get_spec("reg-net-test").options() == {"width": 4}
        by_name = build_model("reg-net-test", num_classes=2, input_shape=(3, 32, 32), options={"width": 6})
        assert by_name.fc.out_features == 2 and by_name.conv.out_channels == 6
        origin = by_name.cnnkit_config["source"]["origin"]
        assert origin["path"] == str(path.resolve())
        ckpt = _roundtrip(by_name, tmp_path)
        del _REGISTRY["reg-net-test"]  # a fresh process: the name is unknown until the kept file runs
        path.unlink()
        _same_outputs(by_name, model_from_checkpoint(ckpt))
        assert m.cnnkit_config["source"]["kind"] == "file"
    finally:
        _REGISTRY.pop("reg-net-test", None)


def test_entry_point_adds_names_to_cnnkit_models(tmp_path):
    """A pip-installed package (here a dist-info folder on sys.path) adds its networks to
    `cnnkit models` through the cnnkit.models entry-point group."""
    (tmp_path / "course_nets.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        def course_mlp(num_classes=10, in_channels=3, hidden=16):
            '''A course's tiny network.'''
            return nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(in_channels * 16, hidden),
                                 nn.ReLU(), nn.Linear(hidden, num_classes))
    """))
    dist = tmp_path / "course_nets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: course-nets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cnnkit.models]\ncourse-mlp = course_nets:course_mlp\n")
    code = ("import json, cnnkit.api as a; m = a.models('course-*')['models'];"
            "print(json.dumps([(x['name'], x['options'], x['description']) for x in m]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[["course-mlp", {"hidden": 16}, "A course\'s tiny network."]]'


def test_import_cnnkit_and_register_model_stay_free_of_torch():
    code = "import sys, cnnkit; cnnkit.register_model; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False", out.stderr


def test_a_notebook_cells_class_keeps_its_source(tmp_path):
    """In Jupyter (Python < 3.13) inspect.getsource fails on a class (`__main__` has no file);
    the cell's text is in linecache, found through the class's methods."""
    import linecache

    cell = ("import torch.nn as nn\n\n\nclass Cell(nn.Module):\n    def __init__(self, num_classes=2):\n"
            "        super().__init__()\n        self.conv = nn.Conv2d(3, 4, 3)\n        self.fc = nn.Linear(4, num_classes)\n\n"
            "    def forward(self, x):\n        return self.fc(self.conv(x).mean((2, 3)))\n\n\nafter = 1\n")
    name = str(tmp_path / "ipykernel_1" / "4021.py")  # no such file: only linecache has it
    linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
    namespace = {"__name__": "__main__"}
    exec(compile(cell, name, "exec"), namespace)
    m = build_model(namespace["Cell"], num_classes=3)
    code = m.cnnkit_config["source"]["code"]
    assert code.startswith("class Cell(nn.Module):") and "after = 1" not in code and "return self.fc" in code
    assert m.cnnkit_config["source"]["imports"] == {"nn": "torch.nn"}
    _same_outputs(m, model_from_checkpoint(_roundtrip(m, tmp_path)))


def test_a_model_object_records_the_arguments_that_rebuild_it(tmp_path):
    m = build_model(nn.Sequential(nn.Conv2d(3, 2, 3)), num_classes=4)
    assert m.cnnkit_config["source"].get("rebuilds") is False  # nn.Sequential() has other weights

    class WithClasses(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    m = build_model(WithClasses(num_classes=4), num_classes=4, in_channels=3)
    assert m.cnnkit_config["kwargs"] == {"num_classes": 4}
    _same_outputs(m, model_from_checkpoint(_roundtrip(m, tmp_path)))
    odd = build_model(WithClasses(num_classes=7), num_classes=4)
    with pytest.raises(CnnkitError, match=r"cnnkit.load\(ckpt, model=WithClasses\(...\)\)"):
        model_from_checkpoint(_roundtrip(odd, tmp_path))


def test_a_broken_installed_package_is_named(tmp_path):
    dist = tmp_path / "broken_nets-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-nets\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[cnnkit.models]\nbroken = broken_nets_missing:Net\n")
    code = "import cnnkit.api as a\ntry:\n    a.models()\nexcept cnnkit.CnnkitError as e:\n    print(e)\n"
    out = subprocess.run([sys.executable, "-c", "import cnnkit\n" + code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"})
    assert "the installed package broken-nets adds models to cnnkit" in out.stdout, out.stderr
    assert "pip uninstall broken-nets" in out.stdout


def test_the_docs_layer_spec_commands_fit_their_data(tmp_path):
    """Every `cnnkit train "SPEC" -d DATA` on docs/models.md starts with DATA's image shape
    (a student copies the line; a wrong input size is refused before training)."""
    import re
    import shlex

    from cnnkit.arith.spec import analyse
    from cnnkit.data.catalog import DataOptions, load_dataset
    from tests.conftest import REPO

    lines = [ln.split("#")[0] for ln in (REPO / "docs" / "models.md").read_text().splitlines()
             if re.match(r'cnnkit train "\d', ln)]
    assert len(lines) >= 2
    for line in lines:
        args = shlex.split(line)
        spec, data = args[2], args[args.index("-d") + 1]
        small = data + ("," if ":" in data else ":") + "n=40"
        ds = load_dataset(small, DataOptions(data_dir=str(tmp_path)))
        assert tuple(analyse(spec).input_shape) == tuple(ds.input_shape), line
