"""Safe reading and atomic writing of the official GPT-SoVITS checkpoint files (torch zip archives).

The official files are `torch.save` zip archives holding a mapping `{"weight": state_dict, "config": ...,
"info": str}`. Two quirks are handled here and nowhere else:

* **Header bytes.** Newer official savers overwrite the zip's leading `PK` with two ASCII digits naming the
  model version (`b"05"` = v2Pro, ...). `read_checkpoint` reports the bytes found and restores `PK` in memory.
* **Pickled config objects.** Fine-tuned s2 files store their config as a pickled `utils.HParams` object.
  Unpickling runs through `_RestrictedUnpickler`, which resolves only tensors, `OrderedDict` and
  `utils.HParams` (mapped to our inert `StoredHParams`); any other global is refused, so a file cannot run
  code.

Writing mirrors reading: `write_checkpoint` pickles `StoredHParams` back as `utils.HParams`, optionally
replaces the header bytes, writes a temporary file next to the target and moves it into place with
`os.replace`.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from core.errors import CheckpointError
from core.workspace import atomic_write_bytes

ZIP_HEADER = b"PK"
HEADER_SIZE = 2
# md5 of the first bytes is how the reference recognises its pretrained files
HASH_PREFIX_BYTES = 8192
# the module/class name the reference pickles its config objects under
_OFFICIAL_HPARAMS_GLOBAL = ("utils", "HParams")


class StoredHParams:
    """Inert stand-in for the reference's `utils.HParams`: attribute and item access, nothing else.

    Nested sections (`train`, `data`, `model`) are `StoredHParams` too. `to_dict()` gives plain dicts.
    """

    def __init__(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, StoredHParams.from_dict(value) if isinstance(value, dict) else value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StoredHParams:
        """Build from a (nested) mapping; nested mappings become `StoredHParams`."""
        return cls(**dict(values))

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            raise pickle.UnpicklingError("utils.HParams state must be a dict with string keys")
        self.__dict__.update(state)

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict copy (sections become dicts)."""
        return {
            key: value.to_dict() if isinstance(value, StoredHParams) else value for key, value in self.items()
        }

    def keys(self):  # noqa: ANN201 - mirrors dict.keys
        return self.__dict__.keys()

    def items(self):  # noqa: ANN201 - mirrors dict.items
        return self.__dict__.items()

    def values(self):  # noqa: ANN201 - mirrors dict.values
        return self.__dict__.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.__dict__[key]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredHParams) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"StoredHParams({self.__dict__!r})"


def config_to_dict(config: Mapping[str, Any] | StoredHParams) -> dict[str, Any]:
    """A plain nested dict from a stored config (dict or `StoredHParams`)."""
    if isinstance(config, StoredHParams):
        return config.to_dict()
    return {
        key: config_to_dict(value) if isinstance(value, (Mapping, StoredHParams)) else value
        for key, value in config.items()
    }


# -- reading ------------------------------------------------------------------------------------------

_ALLOWED_GLOBALS: Mapping[tuple[str, str], Any] = MappingProxyType(
    {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        _OFFICIAL_HPARAMS_GLOBAL: StoredHParams,
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals an official checkpoint needs (storages are resolved by torch first)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


class _OfficialPickler(pickle._Pickler):  # the pure-Python pickler lets us name our class as the reference's
    """Pickles `StoredHParams` under the reference's name `utils.HParams`."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is StoredHParams:
            module, qualname = _OFFICIAL_HPARAMS_GLOBAL
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


class _PickleModule:
    """What `torch.load`/`torch.save` accept as `pickle_module`: our restricted unpickler and our pickler."""

    Unpickler = _RestrictedUnpickler
    Pickler = _OfficialPickler
    UnpicklingError = pickle.UnpicklingError
    __name__ = "timbre_restricted_pickle"

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:  # only used by torch for legacy (pre-zip) files
        return _RestrictedUnpickler(file, **kwargs).load()


@dataclass(frozen=True)
class RawCheckpoint:
    """The unpickled top-level mapping of an official file and the two header bytes found on disk.

    `content` is typically `{"weight": {name: Tensor}, "config": dict | StoredHParams, "info": str}`.
    """

    path: Path
    header: bytes
    content: dict[str, Any]


def read_checkpoint(path: str | os.PathLike[str], *, kind: str = "model") -> RawCheckpoint:
    """Read an official `.pth`/`.ckpt` file safely onto the CPU (tensors keep their stored dtype).

    `kind` only words the error messages ("SoVITS", "GPT"). Raises `CheckpointError` for a missing file,
    a file that is not a torch zip archive, a corrupt archive, or one holding anything but tensors and
    configs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} file not found: {path}; check the path or choose another file")
    header = read_header(path)
    if path.stat().st_size < 4 or (header != ZIP_HEADER and not header.isdigit()):
        raise CheckpointError(
            f"{path.name}: not a GPT-SoVITS {kind} file (expected a torch zip archive starting with PK "
            f"or two version digits, found {header!r}); choose an official .pth/.ckpt file"
        )
    # a plain zip is read from disk; a version-stamped one is restored to `PK` in memory
    source: Path | io.BytesIO = path
    if header != ZIP_HEADER:
        with open(path, "rb") as f:
            f.seek(HEADER_SIZE)
            source = io.BytesIO(ZIP_HEADER + f.read())
    if not zipfile.is_zipfile(source):
        raise CheckpointError(
            f"{path.name}: not a readable torch zip archive (the file may be truncated or corrupt); "
            "download or export it again"
        )
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        # weights_only must be False to pass our own pickle_module; _RestrictedUnpickler is the safety net
        content = torch.load(source, map_location="cpu", pickle_module=_PickleModule, weights_only=False)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name}: holds objects other than tensors and configs ({exc}); it is not an official "
            "GPT-SoVITS file, or it was saved by other software"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError/KeyError/EOFError... for damaged archives
        raise CheckpointError(f"{path.name}: corrupt {kind} file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict):
        raise CheckpointError(
            f"{path.name}: expected a mapping with 'weight' and 'config', found {type(content).__name__}; "
            "it is not an official GPT-SoVITS file"
        )
    return RawCheckpoint(path=path, header=header, content=dict(content))


def read_header(path: str | os.PathLike[str]) -> bytes:
    """The first two bytes of a file (`b"PK"` for a plain torch zip)."""
    with open(path, "rb") as f:
        return f.read(HEADER_SIZE)


def head_md5(path: str | os.PathLike[str], n_bytes: int = HASH_PREFIX_BYTES) -> str:
    """md5 hex digest of the first `n_bytes` bytes, as the reference hashes its pretrained files."""
    with open(path, "rb") as f:
        return hashlib.md5(f.read(n_bytes)).hexdigest()


# -- writing ------------------------------------------------------------------------------------------


def write_checkpoint(
    path: str | os.PathLike[str], content: Mapping[str, Any], *, header: bytes = ZIP_HEADER
) -> None:
    """Write `content` with `torch.save`, put `header` over its first two bytes, move it into place.

    `StoredHParams` values are pickled as the reference's `utils.HParams`. The temporary file lives in the
    target's folder so `os.replace` never crosses file systems; it is removed if anything fails.
    """
    if len(header) != HEADER_SIZE:
        raise ValueError(f"header must be {HEADER_SIZE} bytes, got {header!r}")
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(dict(content), buffer, pickle_module=_PickleModule)
    atomic_write_bytes(path, header + buffer.getvalue()[HEADER_SIZE:])


def check_weights(state: Mapping[str, Any], expected: Mapping[str, Any], *, source: str, model: str) -> None:
    """Raise `CheckpointError` unless `state` has exactly the keys and shapes of `expected` (a model's own
    `state_dict()`), naming the first differences; run before a strict `load_state_dict`."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        differences = "; ".join(parts)
        raise CheckpointError(
            f"{source}: the weights do not match the {model} model built from its config: {differences}; "
            "the file may be corrupt or from an unsupported GPT-SoVITS version"
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: weight {name} has shape {tuple(tensor.shape)}, the config implies "
                f"{tuple(expected[name].shape)}; the stored config and weights disagree"
            )
