"""Choosing the torch device from the user's --device flag."""

from __future__ import annotations

import functools
import glob
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a device is resolved, not when the CLI starts (`--help` stays fast)
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU. Asking for CUDA without one is a usage error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def cuda_impossible() -> bool:
    """True when this Linux machine has no NVIDIA device node (nor WSL's /dev/dxg): no CUDA whatever torch says,
    so 'auto' means the CPU without importing torch (about 2 s a process; the blur path needs no torch)."""
    return sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*") and not glob.glob("/dev/dxg")


def device_name(name: str = "auto") -> str:
    """resolve_device(name) as a string ('cpu', 'cuda', 'cuda:1'), importing torch only when CUDA may be there."""
    if name == "cpu" or (name == "auto" and cuda_impossible()):
        return "cpu"
    return str(resolve_device(name))


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 autocast trains the GAN about 2x
    faster (AMD EPYC, 2.0-2.3x for G + D forward and backward); without it bf16 is emulated, no faster. Linux only
    (read from /proc/cpuinfo); elsewhere False."""
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""
