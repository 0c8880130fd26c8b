"""Pick the compute device and say plainly why, since CUDA confusion is this field's top pain."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(choice: str) -> str:
    """A device choice as written by the user (any case), lower-cased; ValueError if unknown."""
    value = str(choice).strip().lower()
    if not _DEVICE_RE.match(value):
        raise ValueError(f"unknown device '{choice}' (use {DEVICE_CHOICES})")
    return value


def resolve_device(choice: str = "auto") -> tuple[torch.device, str]:
    """Return the device and a one-line human explanation of the choice."""
    choice = check_device(choice or "auto")
    cuda_ok = torch.cuda.is_available()
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if choice == "cpu":
        return torch.device("cpu"), f"CPU ({torch.get_num_threads()} threads), as requested"
    if choice.startswith("cuda"):
        if not cuda_ok:
            why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU is visible to PyTorch")
            return torch.device("cpu"), f"CPU: CUDA was requested but {why}"
        dev = torch.device(choice)
        return dev, f"GPU {torch.cuda.get_device_name(dev)}"
    if choice == "mps":
        if not mps_ok:
            return torch.device("cpu"), "CPU: Apple GPU (MPS) was requested but is not available"
        return torch.device("mps"), "Apple GPU (MPS)"
    if cuda_ok:
        return torch.device("cuda"), f"GPU {torch.cuda.get_device_name(0)}"
    if mps_ok:
        return torch.device("mps"), "Apple GPU (MPS)"
    why = "PyTorch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU found"
    return torch.device("cpu"), f"CPU ({torch.get_num_threads()} threads): {why}"


def physical_cores() -> int:
    """Physical cores usable by this process: hyper-threads slow inference down, so skip them."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    phys = core = None
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return max(1, usable)
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            phys = value
        elif key == "core id":
            core = value
        elif not key:
            if core is not None:
                cores.add((phys or "0", core))
            phys = core = None
    n = len(cores) or usable
    return max(1, min(n, usable))
