"""Responsible use: an inaudible, robust, keyed watermark on everything Timbre makes, and the usage log."""

from core.ethics.consent import ConsentStore
from core.ethics.install import load_install_key, new_generation_id
from core.ethics.marking import Marking, ResponsibleUse, marking_for, start_marking
from core.ethics.usage_log import Provenance, append_usage, find_generation, read_usage, usage_record
from core.ethics.watermark import (
    Detection,
    InstallKey,
    Payload,
    StreamEmbedder,
    detect,
    embed,
    self_check,
    sign,
    verify,
)

__all__ = [
    "ConsentStore",
    "Detection",
    "InstallKey",
    "Marking",
    "Payload",
    "Provenance",
    "ResponsibleUse",
    "StreamEmbedder",
    "append_usage",
    "detect",
    "embed",
    "find_generation",
    "load_install_key",
    "marking_for",
    "new_generation_id",
    "read_usage",
    "self_check",
    "sign",
    "start_marking",
    "usage_record",
    "verify",
]
