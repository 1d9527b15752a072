"""cnnkit.atomic: whole files or none, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from cnnkit.atomic import write_atomic_with


def test_written_file_has_the_permissions_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic_with(tmp_path / "summary.json", lambda f: f.write("{}"))
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
    finally:
        os.umask(old)
    # mkstemp alone makes 0600 files: a shared results folder would be unreadable to others
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
    assert path.read_text() == "{}"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")

    def fail(f):
        f.write("half")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        write_atomic_with(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_os_errors_name_the_real_file_not_the_temporary(tmp_path):
    missing = tmp_path / "no-such-folder" / "best.pt"
    with pytest.raises(FileNotFoundError) as e:
        write_atomic_with(missing, lambda f: f.write(b""), binary=True)
    assert e.value.filename == str(missing)
