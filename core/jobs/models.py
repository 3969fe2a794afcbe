"""The model cache the workers use: loaded models keyed by their files' content, bounded by memory.

Nothing above `core` holds a model. A worker asks for `synthesizer(gpt, sovits)`; the cache loads what it
lacks, shares HuBERT, BERT and G2PW between every pair (one cache per process, so each is loaded once), and
evicts the least recently used GPT/SoVITS models when their weights exceed `max_bytes`. Keys are SHA-256
digests of the files, so a renamed copy is not loaded twice and a file replaced in place is loaded afresh.
The cache's `precision` (`--precision`) converts the synthesizers' T2S, BERT, HuBERT and SoVITS vocoder as
they load (`core.models.precision`); fp32 leaves them untouched. Dataset features (`shared`, and SoVITS's
quantizer) always use fp32 models: they are stored and trained on, so their numbers must be the reference's.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from core.checkpoints import LoadedSoVITS, load_sovits, load_t2s
from core.errors import CheckpointError
from core.memory import return_freed_memory
from core.models import int8_decode
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent
from core.models.precision import ENCODER_PRECISION, convert_t2s, convert_vocoder, weights_bytes
from core.pretrained import BERT_DIR, HUBERT_DIR
from core.settings import DEFAULT_PRECISION, FP32, INT8, check_precision
from core.synthesis import Synthesizer
from core.text.g2pw import G2PW, load_if_present

DEFAULT_MAX_BYTES = 4 * 1024**3  # GPT + SoVITS weights kept loaded (a v2 pair is about 0.5 GB in fp32)
_HASH_CHUNK = 1 << 20


class ModelCache:
    def __init__(
        self,
        pretrained_dir: str | Path,
        device: str = "cpu",
        max_bytes: int = DEFAULT_MAX_BYTES,
        precision: str = DEFAULT_PRECISION,
    ) -> None:
        self.pretrained_dir = Path(pretrained_dir)
        self.device = device
        self.precision = check_precision(precision, device)
        if self.precision == INT8:  # a studio or worker then has the kernel before its first request needs it
            int8_decode.build_in_background()
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._digests: dict[tuple, str] = {}  # (path, size, mtime) -> sha256
        self._models: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()  # LRU: (model, bytes)
        self._pairs: OrderedDict[tuple[str, str], Synthesizer] = OrderedDict()
        self._shared: dict[str, tuple[HubertContent, BertPhoneFeatures]] = {}  # precision -> models
        self._g2pw: tuple[G2PW | None] | None = None  # (model or None when absent), once looked for

    def digest(self, path: str | Path) -> str:
        """SHA-256 of the file's bytes (remembered while its size and modification time stay the same)."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError as exc:
            raise CheckpointError(f"{path}: model file not found; choose another file") from exc
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._digests:
                return self._digests[key]
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                sha.update(chunk)
        with self._lock:
            self._digests[key] = sha.hexdigest()
        return sha.hexdigest()

    @property
    def loaded_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._models.values())

    def _model(self, kind: str, path: Path, load) -> Any:
        key = (kind, self.digest(path))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key][0]
            loaded = load(path, device=self.device)
            if kind == "t2s":
                convert_t2s(loaded.model, self.precision)
            else:
                convert_vocoder(loaded.model, self.precision)
            return_freed_memory()  # what loading and converting freed
            self._models[key] = (loaded, weights_bytes(loaded.model))
            while len(self._models) > 1 and self.loaded_bytes > self.max_bytes:
                evicted, _ = self._models.popitem(last=False)
                for pair in [p for p in self._pairs if evicted in (("t2s", p[0]), ("sovits", p[1]))]:
                    del self._pairs[pair]
            return loaded

    def g2pw(self) -> G2PW | None:
        """The G2PW polyphone model (None without `pretrained/G2PWModel`), loaded once; the Text tab and every
        synthesizer share it."""
        with self._lock:
            if self._g2pw is None:
                self._g2pw = (load_if_present(self.pretrained_dir),)
            return self._g2pw[0]

    def shared(self, precision: str = FP32) -> tuple[HubertContent, BertPhoneFeatures]:
        """HuBERT and BERT in `precision` (fp32: exact, what dataset features need), loaded once and shared
        by every pair."""
        with self._lock:
            if precision not in self._shared:
                root = self.pretrained_dir
                hubert = HubertContent.from_pretrained(root / HUBERT_DIR, self.device, precision)
                bert = BertPhoneFeatures.from_pretrained(root / BERT_DIR, self.device, precision)
                return_freed_memory()
                self._shared[precision] = (hubert, bert)
            return self._shared[precision]

    def sovits(self, sovits_path: str | Path) -> LoadedSoVITS:
        """A SoVITS file (loaded on first use; dataset features use the pretrained one's quantizer)."""
        with self._lock:
            return self._model("sovits", Path(sovits_path), load_sovits)

    def synthesizer(self, gpt_path: str | Path, sovits_path: str | Path) -> Synthesizer:
        """A ready `Synthesizer` for this GPT/SoVITS pair (loaded on first use)."""
        with self._lock:
            t2s = self._model("t2s", Path(gpt_path), load_t2s)
            sovits = self._model("sovits", Path(sovits_path), load_sovits)
            key = (self.digest(gpt_path), self.digest(sovits_path))
            if key not in self._pairs:
                hubert, bert = self.shared(ENCODER_PRECISION[self.precision])
                self._pairs[key] = Synthesizer(
                    t2s, sovits, hubert, bert, device=self.device, g2pw=self.g2pw()
                )
            self._pairs.move_to_end(key)
            return self._pairs[key]
