"""Settings parsed once by `app.py` (or the CLI) and passed down; nothing in `core` reads flags or env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    workspace: Path = Path("workspace")
    pretrained_dir: Path = Path("pretrained")
    device: str = "cpu"
    share: bool = False


def check_device(device: str) -> str:
    """`device` if this machine has it (cpu, cuda, cuda:N), else a `SettingsError` saying what to use."""
    import torch  # deferred: importing settings must stay cheap

    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise SettingsError(f"device {device!r}: no CUDA GPU is available here; use cpu")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise SettingsError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s); use cuda:0 or cpu"
            )
        return device
    raise SettingsError(f"device {device!r} is unknown; use cpu, cuda or cuda:N")
