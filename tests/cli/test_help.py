"""Every command's --help: it runs, shows an example, and prints its text as written
(help is plain text: a grammar like "conv C [kK sS]" must not be eaten as markup)."""

from __future__ import annotations

import pytest
import typer

from cnnkit.cli.main import app


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (click is vendored by newer Typer releases)
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


COMMANDS = sorted(_commands(typer.main.get_command(app)))


def test_every_command_is_listed():
    assert ("layers",) in COMMANDS and ("visualize", "attribution") in COMMANDS and len(COMMANDS) >= 20


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_an_example(cli, path):
    r = cli(*path, "--help")
    assert r.exit_code == 0, r.stderr
    assert "Example:" in r.stdout, f"cnnkit {' '.join(path)} --help shows no example"


def test_bracketed_text_survives(cli):
    layers = " ".join(cli("layers", "--help").stdout.split())
    assert "conv C [kK sS pP dD gG nobias]" in layers and "upsample F [nearest|bilinear]" in layers
    sweep = " ".join(cli("sweep", "--help").stdout.split())
    assert "[train], [vary], [[variant]]" in sweep


def test_python_m_cnnkit_cli_main_runs_the_cli():
    """`python -m cnnkit.cli.main shape ...` prints the answer (it used to exit 0 silently)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    r = subprocess.run([sys.executable, "-m", "cnnkit.cli.main", "shape", "--in", "32", "--k", "5", "--p", "2"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "32", (r.stdout, r.stderr)
