"""The path of one `cnnkit train` to its first optimiser step: plan, build and run, each entered once.

Every function of engine/plan.py, engine/build.py and engine/run.py is wrapped (wherever cnnkit holds a
reference to it) to record calls made from outside its own module, until the Trainer's first
train_epoch. A run that re-plans, builds a part twice from different places, or goes back and forth
between the three is a run whose order can no longer be read off its code, which is what the split
exists for.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections import Counter
from pathlib import Path

from cnnkit.engine import build, plan, run
from cnnkit.engine.trainer import Trainer

STAGES = {plan.__name__: "plan", build.__name__: "build", run.__name__: "run"}
FILES = {Path(m.__file__): stage for m, stage in ((plan, "plan"), (build, "build"), (run, "run"))}


class _FirstStep(Exception):
    pass


def _recording(fn, stage: str, entries: list):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        caller = Path(sys._getframe(1).f_code.co_filename)
        if FILES.get(caller) != stage:  # an entry from outside the stage, not a call within it
            entries.append((stage, fn.__name__))
        return fn(*args, **kwargs)
    return wrapper


def test_cnnkit_train_enters_plan_build_and_run_once_before_the_first_step(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path / "data"))
    entries: list[tuple[str, str]] = []
    wrapped = {}
    for module in (plan, build, run):
        for fn in vars(module).values():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                wrapped[fn] = _recording(fn, STAGES[module.__name__], entries)
    for module in [m for key, m in sys.modules.items() if key.startswith("cnnkit") and m is not None]:
        for name, value in list(vars(module).items()):
            if inspect.isfunction(value) and value in wrapped:
                monkeypatch.setattr(module, name, wrapped[value])

    def first_step(self, *args, **kwargs):
        raise _FirstStep

    monkeypatch.setattr(Trainer, "train_epoch", first_step)
    cli("train", "speednet-cpu", "--dataset", "shapes:n=200", "-e", "1", "--device", "cpu", "--out", "run")
    assert entries, "no call into engine/plan.py, build.py or run.py was seen"
    order = [stage for stage, _ in entries]
    assert Counter(order) == {"plan": 1, "build": 1, "run": 1}, entries
    assert order.index("plan") < order.index("run") < order.index("build"), entries  # run builds, then loops
