"""Devices and numeric precision: sensible defaults per device, all overridable."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from cnnkit.errors import CnnkitError


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks CUDA, then MPS, then CPU (../shared/CLI.md)."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise CnnkitError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CnnkitError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CnnkitError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CnnkitError("--device mps was asked for but MPS is not available; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise CnnkitError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    device_type: str

    @property
    def dtype(self):
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self):
        if self.name == "fp32":
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    @property
    def needs_scaler(self) -> bool:
        return self.name == "fp16" and self.device_type == "cuda"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles). There oneDNN
    runs bf16 convolutions at about twice the fp32 rate (docs/benchmarks.md, "CPU training
    in fp32 and bf16 autocast"); elsewhere bf16 is emulated, and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # an older or non-x86 build: assume not
        return False


def auto_precision(device: torch.device) -> tuple[str, str]:
    """What --precision auto means on `device`, and why (printed at the start of a run)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "autocast: this GPU computes bf16 natively"
        return "fp16", "autocast with loss scaling: this GPU has no bf16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16", ("autocast: this CPU computes bf16 natively (AVX512-BF16/AMX): conv nets train 1.4-2x "
                        "faster than in fp32 at the same accuracy; --precision fp32 for full precision")
    return "fp32", "this CPU has no native bf16" if device.type == "cpu" else f"{device.type} autocast is not used"


def resolve_precision(name: str, device: torch.device) -> Precision:
    """auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, CPUs
    with AVX512-BF16 or AMX), fp16 on older CUDA GPUs, fp32 elsewhere."""
    name = (name or "auto").lower()
    if name == "auto":
        name = auto_precision(device)[0]
    if name not in ("fp32", "bf16", "fp16"):
        raise CnnkitError(f"unknown precision {name!r}; use auto, fp32, bf16 or fp16")
    if name == "fp16" and device.type == "cpu":
        raise CnnkitError("fp16 autocast is for GPUs; on CPU use --precision fp32 or bf16")
    return Precision(name, device.type)


MODEL_DTYPES = ("auto", "fp32", "fp16", "bf16")


def resolve_model_dtype(name: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """The dtype the model's weights are held in, or None for float32 weights (with
    `precision`'s autocast). auto: fp16 on CUDA (airbench's half precision model: no
    casts per step), float32 elsewhere."""
    name = (name or "fp32").lower()
    if name not in MODEL_DTYPES:
        raise CnnkitError(f"unknown model dtype {name!r}; use {', '.join(MODEL_DTYPES)}")
    if name == "auto":
        name = "fp16" if device.type == "cuda" else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise CnnkitError("--model-dtype fp16 is for CUDA GPUs; on this device use fp32 or bf16")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def set_deterministic(on: bool) -> None:
    """Make every kernel deterministic (slower on GPU) or leave cuDNN free to pick."""
    import os

    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


def environment(device: torch.device) -> dict:
    """What a run ran on and with, so a report can say how to reproduce it:
    versions, the device's name, the platform and the command line."""
    import platform
    import shlex
    import sys
    from importlib.metadata import PackageNotFoundError, version

    def ver(package: str) -> Optional[str]:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    env = {
        "cnnkit": ver("cnnkit"), "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": ver("torchvision"), "numpy": ver("numpy"), "platform": platform.platform(),
        "device": str(device), "device_name": _cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if device.type == "cuda":
        env.update(device_name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def _cpu_name() -> str:
    """The CPU's model name (platform.processor() is empty on Linux)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
