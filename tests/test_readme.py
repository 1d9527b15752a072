"""The README's two quickstart commands are the ones CI runs and that work."""

from __future__ import annotations

import re

from tests.conftest import REPO


def quickstart_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quickstart.*?```bash\n(.*?)```", text, re.S).group(1)
    return [ln for ln in block.splitlines() if ln.strip()]


def test_quickstart_has_exactly_two_commands():
    assert len(quickstart_lines()) == 2


def test_ci_runs_the_readme_test_command():
    test_command = quickstart_lines()[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    # The line may go on with `|| exit $?` so that a failed install stops CI.
    assert any(line == test_command or line.startswith(test_command + " ||") for line in ci)


def test_readme_main_command_runs(cli, tmp_path):
    """The quickstart's training command, as written, but for one epoch to stay fast."""
    import shlex

    main = quickstart_lines()[0]
    args = shlex.split(main.split("&&", 1)[1])
    assert args[:2] == ["cnnkit", "train"]
    args = args[1:]
    args[args.index("--epochs") + 1] = "1"
    args[args.index("--out") + 1] = str(tmp_path / "first")
    r = cli(*args, "--json", "--data-dir", tmp_path / "data")
    assert r.exit_code == 0, r.stderr
    summary = r.json()
    assert summary["task"] == "classification" and 0 <= summary["test_accuracy"] <= 1
    assert (tmp_path / "first" / "curves.png").exists()
