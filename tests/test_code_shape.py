"""The shape the code keeps (docs/architecture.md): small modules, short functions, one checkpoint reader.

Limits: no module in cnnkit/ over 450 lines, no function over 80 lines, and a stored checkpoint's entries
read only by engine/checkpoint.py (`ckpt["task"]` anywhere else means a reader that bypasses the typed
Checkpoint and its defaults).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnkit"
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE, MAX_FUNCTION = 450, 80


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_the_package_is_found():
    assert len(SOURCES) > 100 and PACKAGE.joinpath("engine", "checkpoint.py") in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_modules_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE, f"{_name(path)}: {text.count(chr(10))} lines (split it by idea)"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION, f"{_name(path)}:{node.lineno} {node.name} is {length} lines"


def test_only_the_checkpoint_module_looks_inside_a_stored_checkpoint():
    lookup = re.compile(r"""ckpt\[\s*["']""")
    readers = [_name(p) for p in SOURCES if lookup.search(p.read_text(encoding="utf-8"))]
    assert readers == ["cnnkit/engine/checkpoint.py"], readers
