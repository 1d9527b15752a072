"""docs/tutorial.ipynb runs headless from top to bottom (nbclient + ipykernel, the dev extra)
and is the notebook docs/tutorial.py converts to."""

import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_tutorial_notebook_is_tutorial_py_converted():
    sys.path.insert(0, str(DOCS))
    try:
        from make_tutorial import notebook
    finally:
        sys.path.remove(str(DOCS))
    made = notebook((DOCS / "tutorial.py").read_text())
    stored = nbformat.read(DOCS / "tutorial.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in made.cells] == [(c.cell_type, c.source) for c in stored.cells], \
        "run: python docs/make_tutorial.py"
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code"), "commit the notebook without outputs"


def test_tutorial_notebook_executes_without_errors(tmp_path):
    nb = nbformat.read(DOCS / "tutorial.ipynb", as_version=4)
    # runs in tmp_path: runs/tutorial and circle.png land there, not in the checkout
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   allow_errors=False).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    texts = [o.get("data", {}).get("text/plain", "") for o in outputs if o.output_type == "execute_result"]
    assert texts[0] == "[32]"  # cnnkit.shape(32, k=5, p=2)["output"]
    # the live line, updated in place, ends on the last batch of the last epoch
    displays = [o.get("data", {}).get("text/plain", "") for o in outputs if o.output_type == "display_data"]
    assert any(d.startswith("epoch 3/3 [####################]") for d in displays), displays
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the learning curves and the feature maps, shown inline
    summary = json.loads((tmp_path / "runs" / "tutorial" / "summary.json").read_text())
    assert summary["epochs_run"] == 3 and summary["test_accuracy"] > 0.5  # the notebook says "well above chance (0.25)"
    # the network defined in the notebook: its run keeps the class's source, and evaluates here,
    # in another process than the notebook's kernel, to the run's own test accuracy
    mine = json.loads((tmp_path / "runs" / "net1" / "summary.json").read_text())
    assert mine["model_source"]["kind"] == "python" and mine["model"] == "Net1"
    assert "class Net1(nn.Module):" in (tmp_path / "runs" / "net1" / "model-source.py").read_text()
    import cnnkit

    assert cnnkit.evaluate(tmp_path / "runs" / "net1" / "best.pt")["accuracy"] == mine["test_accuracy"]


def test_training_in_a_notebook_keeps_the_inline_backend(tmp_path):
    """cnnkit saves its figures to files; the student's own plt.show() must still draw."""
    cells = ["import matplotlib.pyplot as plt\nimport cnnkit",
             "run = cnnkit.train('convnet', dataset='shapes:n=100,size=16', epochs=1, out='run', progress=False,"
             " model_options={'widths': (8,), 'kernel_size': 3})",
             "plt.plot([1, 2, 3]); plt.show()",
             "run.curves()"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    pngs = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in nb.cells]
    assert pngs == [0, 0, 1, 1]  # training shows no stray figure; plt.show() and the returned Figure draw once each
