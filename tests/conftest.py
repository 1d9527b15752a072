"""Shared test helpers: run the CLI in-process and find the shared data."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnkit.cli.main import app

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CNNKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


class CliResult:
    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def cli():
    """cli("shape", "--in", "5", ...) -> CliResult with exit_code, stdout, stderr."""
    runner = CliRunner()

    def run(*args: str) -> CliResult:
        return CliResult(runner.invoke(app, [str(a) for a in args]))

    return run


def assert_clean_error(result: CliResult, *fragments: str, code: int = 2) -> None:
    """Bad input: exit code 2, one 'error:' line on stderr, no traceback, empty stdout."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for f in fragments:
        assert f.lower() in lines[0].lower(), (f, lines[0])


@contextmanager
def working_in(root: Path, data: Path | None = None):
    """A module-scoped test world: the working folder is `root` and CNNKIT_DATA points at `data`
    (root/data-cache unless given), both restored afterwards (monkeypatch is function-scoped)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("CNNKIT_DATA", str(data or root / "data-cache"))
        yield root
