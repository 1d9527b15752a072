"""The root program imports only the command module of the command it runs (start-up of `cnnkit shape`)."""

from __future__ import annotations

import subprocess
import sys

import typer.main

from cnnkit.cli import main


def _commands(app) -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_the_command_table_names_every_command_of_the_full_app_and_its_module():
    assert _commands(main.app) == set(main.COMMAND_MODULES)
    for command, module in main.COMMAND_MODULES.items():
        assert command in _commands(main.make_app((module,))), (command, module)
    assert set(main.COMMAND_MODULES.values()) == set(main.MODULES)


def test_the_command_word_skips_root_options():
    assert main.command_word(["--debug", "shape", "--in", "5"]) == "shape"
    assert main.command_word(["--help"]) is None


def test_cnnkit_shape_imports_no_other_command_module_and_answers_the_same():
    code = ("import sys; sys.argv = ['cnnkit', 'shape', '--in', '32', '--k', '3'];\n"
            "from cnnkit.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('cnnkit.cli.') and m not in "
            "('cnnkit.cli.main', 'cnnkit.cli.errors', 'cnnkit.cli.options', 'cnnkit.cli.console')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "30"  # the same answer as through the full app
    assert out[1] == "['cnnkit.cli.arith']", out
