"""Data-parallel training on torch.distributed, as launched by torchrun.

torchrun (or `cnnkit train --nproc N`, which runs torchrun) starts one process per
device and sets RANK, LOCAL_RANK and WORLD_SIZE; `init()` joins the process group
(NCCL on CUDA, gloo on CPU). With one process everything here is a no-op, so the
single-process path is the same code.

What each rank does (see engine/plan.py, engine/build.py, engine/run.py):
  * data: every rank loads the dataset (rank 0 first, so a download or cache write
    happens once), training batches are global batches of --batch-size split evenly
    over the ranks, evaluation splits are cut into contiguous shards with no padding;
  * model: DistributedDataParallel averages gradients, so a step with N ranks is a
    step on the global batch (and the schedule, measured in global steps, is the same
    at any world size, which is why a run resumes at any world size);
  * metrics: meters are gathered and merged, so every test image counts exactly once;
  * files and progress: rank 0 only; checkpoints are read by rank 0 and broadcast,
    so nodes need no shared filesystem.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cnnkit.errors import CnnkitError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """In-place sum over ranks (a no-op with one process)."""
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def broadcast(self, obj):
        """Rank 0's object on every rank (pickled; tensors should be on the CPU)."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's object, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def merge_meters(self, meter):
        """One meter holding every rank's counts (per-image results in rank order,
        which is dataset order because evaluation shards are contiguous)."""
        if not self.active:
            return meter
        parts = self.gather(meter)
        for other in parts[1:]:
            parts[0].merge(other)
        return parts[0]


def from_env() -> Dist:
    """This process's place in the job, from torchrun's environment variables."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


_placements: dict = {}  # (rank, world, local rank, requested device) -> init's answer, once per process


def init(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when launched with several processes; on CUDA each process
    takes the GPU of its local rank. Returns (Dist, device). Once per process: the run
    (engine/run.py) gets the answer its plan (engine/plan.py) got."""
    d = from_env()
    if not d.active:
        return d, device
    key = (d.rank, d.world, d.local_rank, str(device))
    if key not in _placements or not dist.is_initialized():
        _placements[key] = _join(d, device)
    return _placements[key]


def _join(d: Dist, device: torch.device) -> tuple[Dist, torch.device]:
    if device.type == "cuda":
        # one GPU per local rank, whatever cuda:N was asked for (pick GPUs with CUDA_VISIBLE_DEVICES)
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise CnnkitError(f"distributed training runs on CUDA (NCCL) or CPU (gloo), not {device.type}; pass --device cuda or cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return d, device


def shutdown() -> None:
    if dist.is_initialized():
        # After a clean run every rank meets here before any tears the group down: a rank
        # that destroys gloo's group while another still has work queued can abort the job
        # at exit ("terminate called without an active exception"). Not after an error or
        # Ctrl-C, where another rank may never arrive.
        import sys

        try:
            if sys.exc_info()[0] is None:
                dist.barrier()
        finally:
            dist.destroy_process_group()


@contextmanager
def main_first(d: Dist):
    """Rank 0 runs the block first (downloads, cache writes), then the others."""
    if not d.is_main:
        d.barrier()
    try:
        yield
    finally:
        if d.is_main:
            d.barrier()


def on_main(d: Dist, fn):
    """fn() on rank 0 only; a CnnkitError there is raised on every rank, so a bad
    --out stops the whole job with one message instead of leaving ranks waiting."""
    error = None
    result = None
    if d.is_main:
        try:
            result = fn()
        except CnnkitError as e:
            error = str(e)
    error = d.broadcast(error)
    if error is not None:
        raise CnnkitError(error)
    return result


def wrap_model(model: torch.nn.Module, device: torch.device, d: Dist) -> torch.nn.Module:
    """DistributedDataParallel around the model (the model itself with one process)."""
    if not d.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def launch(nproc: int, argv: list[str]) -> int:
    """`cnnkit train --nproc N`: run `python -m cnnkit ARGV` as N processes on this
    machine, as `torchrun --standalone --nproc-per-node N` does, but through torchrun's
    Python API so that a bad option stays one `error:` line (from rank 0) instead of
    torchrun's report and traceback. Returns the job's exit code: 0, or the code of
    the first process that failed."""
    import logging
    import sys
    import uuid

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise CnnkitError("--nproc must be at least 1")
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the workers report for themselves
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))  # torchrun's default is 1
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0)
    try:
        elastic_launch(config, sys.executable)("-m", "cnnkit", *argv)
    except ChildFailedError as e:
        _, failure = e.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1  # negative: killed by a signal
    except SignalException:  # Ctrl-C: rank 0 has said where the run stopped and how to resume
        return 130
    return 0
