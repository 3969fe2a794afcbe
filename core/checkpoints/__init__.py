"""Official GPT-SoVITS model files: load, save, and tell their version.

`load_t2s` / `save_t2s` handle GPT ("s1") `.ckpt` files, `load_sovits` / `save_sovits` SoVITS ("s2") `.pth`
files; `detect_version` names the GPT-SoVITS generation of either. Every failure is a `CheckpointError`.
"""

from core.checkpoints.s1 import LoadedT2S, load_t2s, read_t2s, save_t2s
from core.checkpoints.s2 import LoadedSoVITS, load_sovits, read_sovits, save_sovits, timbre_to_official_s2
from core.checkpoints.version import ModelVersion, detect_version

__all__ = [
    "LoadedSoVITS",
    "LoadedT2S",
    "ModelVersion",
    "detect_version",
    "load_sovits",
    "load_t2s",
    "read_sovits",
    "read_t2s",
    "save_sovits",
    "save_t2s",
    "timbre_to_official_s2",
]
