"""Training progress displays: callbacks handed to `cnnkit.engine.run.run_training`.

* a terminal: a Rich live display (epoch and batch bars, loss, images/s, ETA);
* Jupyter: one status line updated in place (IPython's display handles, no widgets
  needed) with the epoch lines printed under the cell;
* anything else (CI logs, pipes, files): plain lines, flushed.

The engine never imports these; the CLI and the Python API pick one with
make_progress(). Rich and IPython are imported only when their display is used.
"""

from __future__ import annotations

import sys
import time


def _fmt_record(r: dict, metric: str) -> str:
    parts = [f"epoch {r['epoch']}", f"loss {r['train_loss']:.4f}"]
    train_key = "train_accuracy" if "train_accuracy" in r else "train_pixel_accuracy"
    parts.append(f"train_acc {r[train_key]:.4f}")
    if "val_loss" in r:
        parts.append(f"val_loss {r['val_loss']:.4f}")
    if f"val_{metric}" in r and r[f"val_{metric}"] is not None:
        parts.append(f"val_{metric} {r[f'val_{metric}']:.4f}")
    parts += [f"lr {r['lr']:.3g}", f"{_rate(r['train_images_per_second'])} img/s", f"{r['train_seconds']:.1f}s"]
    return "  ".join(parts)


def _scalar(loss) -> float:
    """A batch's loss (a 0-dim tensor that may still carry autograd history, or a float)."""
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


class PlainProgress:
    """One line per epoch, flushed, for logs."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def __call__(self, event: str, **info) -> None:
        w = lambda s: print(s, file=self.stream, flush=True)
        if event == "start":
            ds = info["dataset"]
            c = info["config"]
            w(f"run {info['run_dir']}: {c.model} on {c.dataset} ({len(ds.train)} train / {len(ds.val) if ds.val else 0} val / "
              f"{len(ds.test) if ds.test else 0} test), recipe {c.recipe}, {info['device']} {info['precision']}, "
              f"epochs {info['start_epoch'] + 1}-{info['epochs']:g}")
            for note in ds.notes:
                w(f"note: {note}")
            if getattr(c, "policy", None) and info["start_epoch"] == 0:  # what the recipe and the data policy chose, and why
                from cnnkit.engine.policy import describe

                for line in describe(c):
                    w(line)
        elif event == "epoch":
            w(_fmt_record(info["record"], info["metric"]) + ("  *best" if info["improved"] else ""))
        elif event == "switch":
            w(f"epoch {info['epoch'] + 1}: switching to {info['optimizer']} (lr {info['lr']:g})")
        elif event == "early_stop":
            w(f"early stop after epoch {info['epoch']}: no validation improvement for {info['patience']} epochs")
        elif event == "trial":
            w(f"{info.get('variant', '')} trial {info['trial']}/{info['trials']} (seed {info['seed']})".strip())
        elif event == "note":
            w(info["text"])
        elif event == "skip":
            w(f"skip {info['run_dir']}: already finished")
        elif event == "end":
            s = info["summary"]
            keys = [k for k in ("best_val_accuracy", "test_accuracy", "best_val_dice", "test_dice", "test_iou") if s.get(k) is not None]
            w("done: " + "  ".join(f"{k} {s[k]:.4f}" for k in keys) + f"  ({s['train_seconds']:.1f}s training, {_rate(s['train_images_per_second'])} img/s)")


class RichProgress(PlainProgress):
    """Epoch and batch bars with loss, images/s and ETA; epoch lines stay above them."""

    def __init__(self):
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
        self.epoch_task = self.batch_task = None
        self._last = 0.0

    def __call__(self, event: str, **info) -> None:
        if event == "start":
            self.bars.start()
            self.epoch_task = self.bars.add_task("epochs", total=info["epochs"], completed=info["start_epoch"], info="")
            self.batch_task = self.bars.add_task("batches", total=info["batches"], info="")
            self.stream = _Printer(self.console)
            super().__call__(event, **info)
        elif event == "batch":
            now = time.perf_counter()
            if now - self._last > 0.2 or info["batch"] == info["batches"]:  # redraw at most 5 times a second
                self._last = now
                rate = info["seen"] / max(info["seconds"], 1e-9)
                self.bars.update(self.batch_task, completed=info["batch"], description=f"epoch {info['epoch'] + 1}",
                                 info=f"loss {_scalar(info['loss']):.4f}  {_rate(rate)} img/s")
        elif event == "epoch":
            self.bars.update(self.epoch_task, advance=1)
            self.bars.reset(self.batch_task)
            super().__call__(event, **info)
        elif event == "end":
            self.bars.stop()
            super().__call__(event, **info)
        else:
            super().__call__(event, **info)

    def close(self) -> None:
        self.bars.stop()


class _Printer:
    def __init__(self, console):
        self.console = console

    def write(self, s: str) -> None:
        if s.strip():
            self.console.print(s.rstrip("\n"), highlight=False, markup=False)

    def flush(self) -> None:
        pass


class NotebookProgress(PlainProgress):
    """Jupyter: a status line (epoch, batch bar, loss, images/s) updated in place at most
    5 times a second, and the plain epoch lines printed to the cell's output."""

    def __init__(self):
        super().__init__(sys.stdout)
        self.handle = None
        self._last = 0.0
        self._epochs = 0

    def _show(self, text: str) -> None:
        from IPython.display import display

        if self.handle is None:
            self.handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": text}, raw=True)

    def __call__(self, event: str, **info) -> None:
        if event == "start":
            self._epochs = info["epochs"]
            self.handle = None
        if event == "batch":
            now = time.perf_counter()
            if now - self._last > 0.2 or info["batch"] == info["batches"]:
                self._last = now
                done = info["batch"] / max(info["batches"], 1)
                bar = "#" * round(20 * done) + "-" * (20 - round(20 * done))
                rate = info["seen"] / max(info["seconds"], 1e-9)
                self._show(f"epoch {info['epoch'] + 1}/{self._epochs} [{bar}] {info['batch']}/{info['batches']} batches  "
                           f"loss {_scalar(info['loss']):.4f}  {_rate(rate)} img/s")
            return
        super().__call__(event, **info)


def make_progress(quiet: bool = False):
    """The display for where we run: nothing, Jupyter's, Rich's on a terminal, or plain lines."""
    if quiet:
        return lambda event, **info: None
    from cnnkit.notebook import kernel_shell

    if kernel_shell() is not None:
        return NotebookProgress()
    return RichProgress() if sys.stderr.isatty() else PlainProgress()


def _rate(images_per_second: float) -> str:
    """Whole numbers for fast runs, significant digits for slow ones (a U-Net on a CPU
    at 0.24 img/s must not print '0 img/s')."""
    return f"{images_per_second:.0f}" if images_per_second >= 10 else f"{images_per_second:.2g}"
