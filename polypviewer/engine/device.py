"""Pick the compute device and say plainly why, since CUDA confusion is this field's top pain."""

from __future__ import annotations

import torch


def resolve_device(choice: str = "auto") -> tuple[torch.device, str]:
    """Return the device and a one-line human explanation of the choice."""
    choice = (choice or "auto").lower()
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
    if choice != "auto":
        raise ValueError(f"unknown device '{choice}' (use auto, cpu, cuda or mps)")
    if cuda_ok:
        return torch.device("cuda"), f"GPU {torch.cuda.get_device_name(0)}"
    if mps_ok:
        return torch.device("mps"), "Apple GPU (MPS)"
    why = "PyTorch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU found"
    return torch.device("cpu"), f"CPU ({torch.get_num_threads()} threads): {why}"
