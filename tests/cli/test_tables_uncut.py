"""Tables written to a file or a pipe keep every character: CliRunner's stdout is not a
terminal, where Rich would otherwise fall back to 80 columns and cut cells to '100…'."""

from __future__ import annotations

import pytest

WIDE_SPEC = ("3x224x224 | conv 64 k7 s2 p3 | bn | relu | maxpool 3 s2 p1 | conv 128 k3 p1 | bn | relu "
             "| conv 256 k3 s2 p1 | bn | relu | flatten | linear 4096 | relu | dropout 0.5 | linear 1000")


@pytest.mark.parametrize("argv", [("summary", "resnet18"), ("layers", WIDE_SPEC, "--batch", "256", "--optimizer", "adam")])
def test_wide_table_is_not_cut(cli, monkeypatch, argv):
    monkeypatch.setenv("COLUMNS", "80")  # what a CI log or a narrow pipe reports
    r = cli(*argv)
    assert r.exit_code == 0, r.stderr
    assert "…" not in r.stdout
    # the widest numbers arrive whole: resnet18's first conv has 118,013,952 MACs per image
    if argv[0] == "summary":
        assert "118,013,952" in r.stdout and "11,689,512" in r.stdout.replace(" ", "")
    else:
        assert "822,083,584" in r.stdout  # linear 4096 from 256x28x28: 200,704 * 4096 MACs
    assert max(len(line) for line in r.stdout.splitlines()) > 80  # the table really is wider than the fallback


def test_pipe_console_width_is_wide_and_terminal_untouched():
    from cnnkit.cli.console import PIPE_WIDTH, stdout_console

    assert stdout_console().width == PIPE_WIDTH  # pytest's stdout is captured: not a terminal
    assert stdout_console(width=50).width == 50
