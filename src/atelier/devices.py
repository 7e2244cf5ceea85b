"""Where and in what arithmetic the library runs: ``--device`` and ``--precision`` resolved once.

``resolve_device('auto')`` picks CUDA, then Apple MPS, then the CPU; ``resolve_precision('auto', device)``
picks bfloat16 where the hardware has bf16 dot products (AVX-512 bf16 or AMX on x86, CUDA with bf16),
else fp32 (many laptops: every network then runs in fp32).

Under torchrun (LOCAL_RANK set), 'auto' and 'cuda' mean the GPU of the process's local rank, so the ranks of
one machine do not share GPU 0.
"""

from __future__ import annotations

import os

import torch

from .errors import OptionError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> CUDA if available, then Apple MPS, then CPU; anything else is checked and returned."""
    local_rank = os.environ.get("LOCAL_RANK", "")
    if (device is None or str(device) in ("auto", "cuda")) and torch.cuda.is_available() and local_rank.isdigit():
        return torch.device("cuda", int(local_rank) % torch.cuda.device_count())  # one GPU per local rank
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise OptionError(f"Unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionError(f"Device {device!r} was asked for but Apple MPS is not available on this machine.")
    return dev


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' -> bf16 where the hardware has bf16 dot products, else fp32 (the trainers' VGG passes)."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        cpu = torch.cpu
        try:
            native = cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()
        except AttributeError:  # older torch: assume emulated bf16
            native = False
        return torch.bfloat16 if native else torch.float32
    return torch.float32  # MPS and others: bf16 support varies, fp32 is safe
