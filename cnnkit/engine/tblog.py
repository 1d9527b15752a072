"""`--log tensorboard`: the run's numbers as TensorBoard event files under RUN/tensorboard/.

The logger is one more progress callback (the trainer's only hook), composed with the
display by `logging()`:

* per step: `step/train_loss` (global step = epoch * batches + batch, from 1);
* per epoch: `epoch/<key>` for every number metrics.csv gets but the epoch (train_loss,
  val_accuracy, lr, ...), at step = epoch number, so the values equal metrics.csv's rows;
* the config as text (`config`) and curves.png as an image (`curves`) each epoch;
* at the end the summary's numbers as `test/<key>` and the summary as text.

Per-step losses are kept on the device and written when their epoch completes: one
device sync per epoch instead of one per step, and an interrupted epoch (which a
resume trains again) is never logged twice. Only the process that writes the run
(rank 0 under DDP) logs. The tensorboard package is optional: cnnkit[tensorboard].
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

from cnnkit.errors import CnnkitError

INSTALL = "pip install 'cnnkit[tensorboard]' (or: pip install tensorboard)"


def require() -> None:
    """Fail before the run starts when the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise CnnkitError(f"--log tensorboard needs the tensorboard package; install it with {INSTALL}") from None


class TensorBoardLog:
    """A progress callback writing scalars, text and the curves image (see the module docstring)."""

    def __init__(self, run_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        from cnnkit import outputs

        self.run_dir = Path(run_dir)
        log_dir = self.run_dir / "tensorboard"
        if not log_dir.exists() or outputs.owned_kind(log_dir) == outputs.LOG:
            # listed in the run's manifest: --overwrite removes only its event files (a folder of the
            # user's under this name gets new event files beside theirs and is never cleared)
            outputs.record_written(self.run_dir, "tensorboard", outputs.LOG)
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.losses: list = []  # this epoch's per-step loss tensors (0-dim, on the device)
        self.batches = 0

    def __call__(self, event: str, **info) -> None:
        if event == "start":
            self.batches = info["batches"]
            config = info["config"].to_dict()
            self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", info["start_epoch"])
        elif event == "batch":
            loss = info["loss"]
            self.losses.append(loss.detach() if hasattr(loss, "detach") else loss)
        elif event == "epoch":
            self._epoch(info["record"])
        elif event == "end":
            summary = info["summary"]
            step = summary.get("epochs_run", 0)
            for key, value in summary.items():
                if _is_number(value) and key.startswith(("test_", "best_")):
                    self.writer.add_scalar(f"test/{key}", value, step)
            self.writer.add_text("summary", "```\n" + json.dumps(summary, indent=2, default=str) + "\n```", step)
            self.writer.flush()

    def _epoch(self, record: dict) -> None:
        import torch

        epoch = record["epoch"]
        if self.losses:
            values = torch.stack([torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in self.losses]).tolist()
            first = (epoch - 1) * self.batches  # steps of earlier epochs
            for i, v in enumerate(values):
                self.writer.add_scalar("step/train_loss", v, first + i + 1)
        self.losses = []
        for key, value in record.items():
            if _is_number(value) and key != "epoch":  # the epoch is the step
                self.writer.add_scalar(f"epoch/{key}", value, epoch)
        curves = self.run_dir / "curves.png"
        if curves.exists():
            import numpy as np
            from PIL import Image

            with Image.open(curves) as im:
                self.writer.add_image("curves", np.asarray(im.convert("RGB")), epoch, dataformats="HWC")  # (H, W, 3) uint8
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@contextlib.contextmanager
def logging(log: str | None, run_dir: str | Path, progress):
    """`progress`, plus the TensorBoard logger when `log` is 'tensorboard'; closes its files on the way out."""
    if log != "tensorboard":
        yield progress
        return
    require()
    logger = TensorBoardLog(run_dir)

    def both(event: str, **info) -> None:
        logger(event, **info)
        progress(event, **info)

    try:
        yield both
    finally:
        logger.close()
