"""Plain PyTorch models of GPT-SoVITS v2: the T2S GPT, the SoVITS generator, HuBERT and BERT features."""

from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent
from core.models.sovits import SoVITS, SoVITSConfig
from core.models.t2s import KVCache, T2SConfig, T2SGeneration, T2SModel

__all__ = [
    "BertPhoneFeatures",
    "HubertContent",
    "KVCache",
    "SoVITS",
    "SoVITSConfig",
    "T2SConfig",
    "T2SGeneration",
    "T2SModel",
]
