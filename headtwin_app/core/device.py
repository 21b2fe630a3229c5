"""The one device picker: 'auto'/None → CUDA when torch sees a GPU, else CPU; a device that was
asked for but is not there is a clear `DeviceError`, before any work starts."""

from __future__ import annotations

import torch

from headtwin_app.core.errors import DeviceError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """A usable torch device for `device` ("auto", "cpu", "cuda", "cuda:N", or None = auto)."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{device}' asked for, but torch sees no GPU (use --device "
                              "cpu or auto)")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise DeviceError(f"device '{device}': not a device name (cuda or cuda:N)") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{device}': torch sees {torch.cuda.device_count()} GPU(s)")
        return dev
    raise DeviceError(f"device must be auto, cpu or cuda, got '{device}'")
