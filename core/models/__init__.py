"""Plain torch modules of the inference path, each built from a config dataclass.

Only the T2S names are re-exported here; import the others from their modules
(`core.models.sovits`, `core.models.hubert`, `core.models.bert`).
"""

from core.models.t2s import KVCache, T2SConfig, T2SGeneration, T2SModel

__all__ = ["KVCache", "T2SConfig", "T2SGeneration", "T2SModel"]
