"""Scratch tests use small tensors: one intra-op thread. On a shared 2-core machine the
default two threads spin against each other and the training test took 514 s instead
of about 10 s (benchmarks/gradcheck_threads.py measures the same effect on gradcheck)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
