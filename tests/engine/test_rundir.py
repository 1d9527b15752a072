"""Run directories: one writer at a time, nothing lost, nothing left that blocks a retry."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from cnnkit.engine.rundir import RunDir, clear_owned, differences
from cnnkit.engine.runlock import RunBusy, RunLock
from tests.conftest import assert_clean_error

TINY = ["convnet", "-d", "shapes:n=64,size=16", "--opt", "widths=(4,8)", "--batch-size", "32", "--recipe", "default", "-q"]


def _holder(path):
    """Another process that holds the run directory's lock until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from cnnkit.engine.runlock import RunLock
        RunLock({str(path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_second_writer_is_refused_with_the_holders_pid_and_a_killed_holder_blocks_nothing(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(RunBusy, match=f"process {holder.pid}"):
            RunLock(tmp_path / "run").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(tmp_path / "run") as lock:  # the OS dropped the dead process's lock
        assert lock.fd is not None
        assert (tmp_path / "run" / ".cnnkit.lock").read_text().strip() == str(os.getpid())


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_train_and_resume_into_a_held_folder_change_nothing(tmp_path, cli):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--epochs", "1", "--out", run).exit_code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".cnnkit.lock"}
    holder = _holder(run)
    try:
        for args in (["train", *TINY, "--epochs", "1", "--out", run, "--overwrite", "--json"],
                     ["train", "--resume", run, "--epochs", "2", "--json"]):
            r = cli(*args)
            assert_clean_error(r, f"in use by cnnkit process {holder.pid}")
            assert r.stdout == ""
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".cnnkit.lock"} == before


def test_two_concurrent_cli_runs_one_wins_the_other_is_refused(tmp_path):
    """Two real `cnnkit train --out X` at once: exactly one trains, the other exits 2 before writing."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "cnnkit", "train", *TINY, "--epochs", "3", "--out", str(run)]
    env = dict(os.environ, CNNKIT_DATA=str(tmp_path / "data"))
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # wait until the first holds the folder (its lock file names it), then start the second
    lock = run / ".cnnkit.lock"
    for _ in range(600):
        if lock.exists() and lock.read_text().strip() == str(first.pid):
            break
        if first.poll() is not None:
            break
        import time

        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    if second.returncode == 0:  # the first finished before the second started: the second must then refuse too
        pytest.fail("both runs succeeded in one folder")
    assert second.returncode == 2
    lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"process {first.pid}" in lines[0] or "already holds a run" in lines[0]
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert summary["epochs_run"] == config["epochs"] == 3


def test_a_run_that_fails_before_its_first_epoch_leaves_nothing(tmp_path, cli, monkeypatch):
    from cnnkit.engine import trainer
    from cnnkit.errors import CnnkitError

    def broken(self, *a, **k):
        raise CnnkitError("the first batch failed its input check")

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(trainer.Trainer, "train_epoch", broken)
        assert_clean_error(cli("train", *TINY, "--epochs", "1", "--out", run), "input check")
    assert not run.exists()  # it made the folder, so it removes it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with monkeypatch.context() as m:
        m.setattr(trainer.Trainer, "train_epoch", broken)
        assert_clean_error(cli("train", *TINY, "--epochs", "1", "--out", tmp_path / "mine"), "input check")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    r = cli("train", *TINY, "--epochs", "1", "--out", run)  # the retry is not blocked
    assert r.exit_code == 0, r.stderr


def test_overwrite_clears_what_cnnkit_wrote_only(tmp_path, cli):
    out = tmp_path / "t"
    assert cli("train", *TINY, "--epochs", "1", "--trials", "3", "--out", out).exit_code == 0
    assert cli("report", out).exit_code == 0  # cnnkit's own files in the folder: removed by --overwrite
    assert cli("evaluate", out / "trial-1" / "best.pt").exit_code == 0
    (out / "report-notes.html").write_text("mine")  # the user's files: kept, byte for byte
    (out / "mine.txt").write_text("keep")
    (out / "trial-3" / "best-photo.png").write_bytes(b"photo")
    assert_clean_error(cli("train", *TINY, "--epochs", "1", "--trials", "2", "--out", out), "--overwrite")
    r = cli("train", *TINY, "--epochs", "1", "--trials", "2", "--out", out, "--overwrite")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "mine.txt", "report-notes.html", "trial-1", "trial-2", "trial-3", "trials.json"]
    assert not (out / "trial-1" / "best-test-confusion.png").exists()
    assert sorted(p.name for p in (out / "trial-3").iterdir()) == ["best-photo.png"]
    assert (out / "trial-3" / "best-photo.png").read_bytes() == b"photo"
    assert len(json.loads((out / "trials.json").read_text())["runs"]) == 2


def test_resume_keeps_the_runs_settings_and_records_new_epochs(tmp_path, cli):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--epochs", "1", "--out", run).exit_code == 0
    assert_clean_error(cli("train", "--resume", run), "already finished its 1 epochs", "--epochs")
    assert_clean_error(cli("train", "--resume", run, "--epochs", "2", "--lr", "0.3"), "lr 0.05 -> 0.3")
    assert_clean_error(cli("train", "resnet18", "--resume", run, "--epochs", "2"), "model convnet -> resnet18")
    assert_clean_error(cli("train", "--resume", run, "--epochs", "2", "-d", "shapes-seg"), "dataset")
    r = cli("train", "--resume", run, "--epochs", "2", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["epochs_run"] == 2
    assert json.loads((run / "config.json").read_text())["epochs"] == 2


def test_clear_owned_and_differences(tmp_path):
    from cnnkit.outputs import TABLE, record_written

    d = tmp_path / "d"
    RunDir(d).create()
    (d / "config.json").write_text(json.dumps({"model": "convnet", "dataset": "shapes", "optimizer": "sgd", "seed": 0,
                                               "epochs": 1}))  # a run from before manifests
    for name in ("metrics.csv", "summary.json", "curves.png", "best-test-confusion.csv", "data.csv", "model.pt"):
        (d / name).write_text("x")
    removed = {p.name for p in clear_owned(d)}
    assert removed == {"config.json", "metrics.csv", "summary.json", "curves.png"}  # its exact names only
    record_written(d, "best-test-confusion.csv", TABLE)  # with a manifest: what it lists
    assert {p.name for p in clear_owned(d)} == {"best-test-confusion.csv"}
    assert sorted(p.name for p in d.iterdir()) == [".cnnkit.lock", "data.csv", "model.pt"]
    assert differences({"lr": 0.05, "widths": [8, 16], "epochs": 3}, {"lr": 0.05, "widths": (8, 16), "epochs": 3}) == []
    assert differences({"lr": 0.05, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9}) == ["lr 0.05 -> 0.1"]


def test_a_full_disk_is_named_with_the_file(tmp_path, monkeypatch):
    """ENOSPC happens in the write itself, where the error carries no file name."""
    import errno

    import torch

    from cnnkit.cli.errors import describe_os_error
    from cnnkit.engine import checkpoint
    from cnnkit.engine.rundir import write_atomic

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError) as e:
        write_atomic(tmp_path / "summary.json", "{}")
    assert describe_os_error(e.value) == (f"cannot use {tmp_path / 'summary.json'}: No space left on device; "
                                          "the disk is full; free some space or choose another path")
    monkeypatch.undo()

    def zip_failure(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", zip_failure)
    with pytest.raises(checkpoint.CheckpointError, match="last.pt.*disk full"):
        checkpoint.save_checkpoint(tmp_path / "last.pt", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left behind
