"""Responsible use: an inaudible, robust, keyed watermark on everything Timbre makes, and the usage log."""

from core.ethics.install import load_install_key, new_generation_id
from core.ethics.usage_log import append_usage, find_generation, read_usage, usage_record
from core.ethics.watermark import Detection, InstallKey, Payload, detect, embed, self_check, sign, verify

__all__ = [
    "Detection",
    "InstallKey",
    "Payload",
    "append_usage",
    "detect",
    "embed",
    "find_generation",
    "load_install_key",
    "new_generation_id",
    "read_usage",
    "self_check",
    "sign",
    "usage_record",
    "verify",
]
