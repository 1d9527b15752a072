"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def median_wall(cmd: list[str], repeats: int) -> float:
    """Median wall time in seconds of running `cmd` `repeats` times."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cnnkit_command() -> list[str]:
    """The installed console script, else `python -m cnnkit`."""
    exe = shutil.which("cnnkit")
    return [exe] if exe else [sys.executable, "-m", "cnnkit"]
