"""Pretrained weights: what each model version needs, where it lives on the Hub, checking and downloading.

The local folder mirrors the public model repository `lj1995/GPT-SoVITS` (the reference's
`GPT_SoVITS/pretrained_models/`): a file at `<repo>/<path>` on the Hub goes to `<dir>/<path>` on disk, e.g.
`pretrained/gsv-v2final-pretrained/s2G2333k.pth`. Nothing here touches the network except `download`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from core.errors import PretrainedMissingError

HUB_REPO = "lj1995/GPT-SoVITS"
HUB_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
DOWNLOAD_HINT = "run `python -m core pretrained download`"

Purpose = Literal["inference", "training", "extra"]
Role = Literal["bert", "hubert", "t2s", "sovits", "sovits_d", "vocoder", "sv", "g2pw", "asr", "separator"]


@dataclass(frozen=True)
class PretrainedFile:
    """One file of the public model repository and what it is for.

    `path` is both the path inside `repo_id` and the path under the local pretrained folder.
    `alternatives` are local paths accepted instead of `path` (e.g. `model.safetensors` for
    `pytorch_model.bin`). `unpack_to` marks a zip archive that is extracted into that folder.
    """

    path: str
    role: Role
    purpose: Purpose = "inference"
    repo_id: str = HUB_REPO
    alternatives: tuple[str, ...] = ()
    unpack_to: str | None = None

    def url(self, endpoint: str = HUB_ENDPOINT, revision: str = DEFAULT_REVISION) -> str:
        """Direct download URL of this file."""
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{revision}/{self.path}"


BERT_DIR = "chinese-roberta-wwm-ext-large"
HUBERT_DIR = "chinese-hubert-base"

_SHARED = (
    PretrainedFile(f"{BERT_DIR}/config.json", "bert"),
    PretrainedFile(f"{BERT_DIR}/pytorch_model.bin", "bert", alternatives=(f"{BERT_DIR}/model.safetensors",)),
    PretrainedFile(f"{BERT_DIR}/tokenizer.json", "bert", alternatives=(f"{BERT_DIR}/vocab.txt",)),
    PretrainedFile(f"{HUBERT_DIR}/config.json", "hubert"),
    PretrainedFile(f"{HUBERT_DIR}/preprocessor_config.json", "hubert"),
    PretrainedFile(
        f"{HUBERT_DIR}/pytorch_model.bin", "hubert", alternatives=(f"{HUBERT_DIR}/model.safetensors",)
    ),
)
_S1_V3 = PretrainedFile("s1v3.ckpt", "t2s")
_SV = PretrainedFile("sv/pretrained_eres2netv2w24s4ep4.ckpt", "sv")
_BIGVGAN = "models--nvidia--bigvgan_v2_24khz_100band_256x"

# What each model version needs on top of BERT and HuBERT, as the reference lays it out. Timbre loads only
# `SUPPORTED_VERSIONS`; `check` and `download` refuse the others rather than report on files it cannot use.
_VERSION_FILES: dict[str, tuple[PretrainedFile, ...]] = {
    "v1": (
        PretrainedFile("s1bert25hz-2kh-longer-epoch=68e-step=50232.ckpt", "t2s"),
        PretrainedFile("s2G488k.pth", "sovits"),
        PretrainedFile("s2D488k.pth", "sovits_d", "training"),
    ),
    "v2": (
        PretrainedFile("gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt", "t2s"),
        PretrainedFile("gsv-v2final-pretrained/s2G2333k.pth", "sovits"),
        PretrainedFile("gsv-v2final-pretrained/s2D2333k.pth", "sovits_d", "training"),
    ),
    "v2Pro": (
        _S1_V3,
        PretrainedFile("v2Pro/s2Gv2Pro.pth", "sovits"),
        PretrainedFile("v2Pro/s2Dv2Pro.pth", "sovits_d", "training"),
        _SV,
    ),
    "v2ProPlus": (
        _S1_V3,
        PretrainedFile("v2Pro/s2Gv2ProPlus.pth", "sovits"),
        PretrainedFile("v2Pro/s2Dv2ProPlus.pth", "sovits_d", "training"),
        _SV,
    ),
    "v3": (
        _S1_V3,
        PretrainedFile("s2Gv3.pth", "sovits"),
        PretrainedFile(f"{_BIGVGAN}/config.json", "vocoder"),
        PretrainedFile(f"{_BIGVGAN}/bigvgan_generator.pt", "vocoder"),
    ),
    "v4": (
        _S1_V3,
        PretrainedFile("gsv-v4-pretrained/s2Gv4.pth", "sovits"),
        PretrainedFile("gsv-v4-pretrained/vocoder.pth", "vocoder"),
    ),
}
VERSIONS: tuple[str, ...] = tuple(_VERSION_FILES)
SUPPORTED_VERSIONS: tuple[str, ...] = ("v2",)
"""The versions Timbre can load, hence the only ones `check` and `download` accept."""

# Optional downloads, asked for by name. G2PW (a neural polyphone model for Chinese) is a zip archive that
# the reference unpacks to `GPT_SoVITS/text/G2PWModel`; here it is unpacked to `<dir>/G2PWModel`.
EXTRAS: dict[str, PretrainedFile] = {
    "g2pw": PretrainedFile(
        "G2PWModel.zip", "g2pw", "extra", repo_id="XXXXRT/GPT-SoVITS-Pretrained", unpack_to="G2PWModel"
    ),
}


def require_supported(version: str) -> str:
    """`version` if Timbre can load its models, else a `PretrainedMissingError` saying what is supported."""
    if version in SUPPORTED_VERSIONS:
        return version
    supported = ", ".join(SUPPORTED_VERSIONS)
    if version in VERSIONS:
        raise PretrainedMissingError(
            f"{version} is not supported yet: Timbre loads {supported} models only; use --version {supported}"
        )
    raise PretrainedMissingError(f"unknown model version {version!r}; Timbre loads {supported} models only")


def files_for(
    version: str = "v2", include_training: bool = True, extras: tuple[str, ...] = ()
) -> tuple[PretrainedFile, ...]:
    """The files a model version needs: BERT, HuBERT and the base models (+ discriminators for training)."""
    if version not in _VERSION_FILES:
        raise PretrainedMissingError(
            f"unknown model version {version!r}; expected one of {', '.join(VERSIONS)}"
        )
    unknown = [name for name in extras if name not in EXTRAS]
    if unknown:
        raise PretrainedMissingError(f"unknown extra {unknown[0]!r}; expected one of {', '.join(EXTRAS)}")
    files = _SHARED + _VERSION_FILES[version]
    if not include_training:
        files = tuple(f for f in files if f.purpose != "training")
    return files + tuple(EXTRAS[name] for name in extras)


# --------------------------------------------------------------------------------------------------
# Checking


@dataclass(frozen=True)
class FileStatus:
    """A needed file and where it was found (`found` is None when it is missing)."""

    file: PretrainedFile
    expected: Path
    found: Path | None

    @property
    def present(self) -> bool:
        return self.found is not None


@dataclass(frozen=True)
class CheckReport:
    """What is present and missing under `root` for `version`.

    `files` are the files asked for (`missing` and `ok` are about them only); `optional` are the files only
    fine-tuning uses when training was not asked for: listed, but never a reason to fail.
    """

    root: Path
    version: str
    files: tuple[FileStatus, ...]
    optional: tuple[FileStatus, ...] = ()

    @property
    def present(self) -> tuple[FileStatus, ...]:
        return tuple(s for s in self.files if s.present)

    @property
    def missing(self) -> tuple[FileStatus, ...]:
        return tuple(s for s in self.files if not s.present)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def training_requested(self) -> bool:
        return any(s.file.purpose == "training" for s in self.files)

    def describe(self) -> str:
        """A human-readable summary: one line per file, what is ready, then what to do about the rest."""
        lines = [f"pretrained weights for {self.version} in {self.root}:"]
        for status in self.files:
            mark = "ok     " if status.present else "MISSING"
            lines.append(f"  {mark} {status.file.purpose:<9} {status.found or status.expected}")
        for status in self.optional:
            mark = "ok     " if status.present else "absent "
            lines.append(f"  {mark} {status.file.purpose:<9} {status.found or status.expected} (optional)")
        if not self.ok:
            lines.append(missing_message(self.missing, self.root, version=self.version))
            return "\n".join(lines)
        lines.append(
            "inference and SoVITS fine-tuning are ready."
            if self.training_requested
            else "inference is ready."
        )
        absent = [s for s in self.optional if not s.present]
        if absent:
            names = ", ".join(s.file.path for s in absent)
            lines.append(
                f"SoVITS fine-tuning is better with {names}: without it the discriminator starts from random "
                f"init. Get it with `python -m core pretrained download --version {self.version} --training "
                f"--dir {self.root}`."
            )
        return "\n".join(lines)


def _find_local(root: Path, file: PretrainedFile) -> Path | None:
    if file.unpack_to is not None:
        target = root / file.unpack_to
        return target if target.is_dir() and any(target.iterdir()) else None
    for rel in (file.path, *file.alternatives):
        candidate = root / rel
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def check(
    root: str | os.PathLike, version: str = "v2", include_training: bool = True, extras: tuple[str, ...] = ()
) -> CheckReport:
    """Which of the files `version` needs are under `root` (no network, no hashing).

    Without `include_training`, the fine-tuning files are still looked for but reported as `optional`.
    Raises `PretrainedMissingError` for a version Timbre cannot load (see `SUPPORTED_VERSIONS`).
    """
    root = Path(root)
    require_supported(version)

    def status(file: PretrainedFile) -> FileStatus:
        return FileStatus(file, root / (file.unpack_to or file.path), _find_local(root, file))

    wanted = files_for(version, include_training, extras)
    optional = [f for f in files_for(version, True) if f not in wanted]
    return CheckReport(root, version, tuple(map(status, wanted)), tuple(map(status, optional)))


def missing_message(
    missing: tuple[FileStatus, ...], root: Path, endpoint: str = HUB_ENDPOINT, version: str = "v2"
) -> str:
    """What to fetch and where to put it, for an error message or the CLI."""
    flags = " --training" if any(s.file.purpose == "training" for s in missing) else ""
    flags += "".join(f" --extra {name}" for name, f in EXTRAS.items() if f in {s.file for s in missing})
    command = f"python -m core pretrained download --version {version}{flags} --dir {root}"
    lines = [f"{len(missing)} file(s) missing; run `{command}` when online, or download by hand:"]
    for status in missing:
        lines.append(f"  {status.file.url(endpoint)}\n    -> {status.expected}")
    return "\n".join(lines)


def require(root: str | os.PathLike, version: str = "v2", include_training: bool = False) -> CheckReport:
    """Like `check`, but raise `PretrainedMissingError` naming every missing file and where it goes."""
    report = check(root, version, include_training)
    if not report.ok:
        raise PretrainedMissingError(
            f"pretrained weights for {version} are incomplete in {report.root}. "
            + missing_message(report.missing, report.root, version=version)
        )
    return report


@dataclass(frozen=True)
class PretrainedPaths:
    """Where the models of one version live under a pretrained folder (existence not checked)."""

    bert_dir: Path
    hubert_dir: Path
    t2s: Path
    sovits: Path
    sovits_d: Path  # the SoVITS discriminator (training only)


def model_paths(root: str | os.PathLike, version: str = "v2") -> PretrainedPaths:
    """Paths of the BERT and HuBERT folders and the base T2S / SoVITS (+ discriminator) files of `version`."""
    root = Path(root)
    by_role = {f.role: root / f.path for f in files_for(version)}
    return PretrainedPaths(
        root / BERT_DIR, root / HUBERT_DIR, by_role["t2s"], by_role["sovits"], by_role["sovits_d"]
    )


# --------------------------------------------------------------------------------------------------
# Downloading

Progress = Callable[[int, int, str], None]
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, size: int | None, etag: str | None) -> None:
    """Compare a downloaded file with the size and (for LFS files) sha256 the Hub announced."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        path.unlink(missing_ok=True)
        raise PretrainedMissingError(
            f"{path}: downloaded {actual} bytes, the Hub announced {size}; the file was removed, "
            f"{DOWNLOAD_HINT} again"
        )
    if etag is not None and _SHA256_RE.match(etag) and _sha256(path) != etag:
        path.unlink(missing_ok=True)
        raise PretrainedMissingError(
            f"{path}: sha256 differs from the Hub's ({etag[:16]}...); the file was removed, "
            f"{DOWNLOAD_HINT} again"
        )


def _unpack(archive: Path, root: Path, target_name: str) -> None:
    """Extract a zip whose single top folder (any name) becomes `root/target_name`."""
    target = root / target_name
    staging = root / f".{target_name}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            dest = (staging / member).resolve()
            if not dest.is_relative_to(staging.resolve()):
                raise PretrainedMissingError(f"{archive.name}: unsafe path {member!r} in the archive")
        zf.extractall(staging)
    entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
    source = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
    shutil.rmtree(target, ignore_errors=True)
    os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)


def _probe(url: str, timeout_s: float) -> tuple[int | None, str | None]:
    """One HEAD request, no retries: `(size, etag)` of a Hub file, or an exception if unreachable.

    Follows relative redirects (renamed repositories); for LFS files the Hub answers with a redirect to
    its CDN and announces the real size and sha256 in `X-Linked-Size` / `X-Linked-Etag`.
    """
    import requests

    for _ in range(5):
        response = requests.head(
            url, allow_redirects=False, timeout=timeout_s, headers={"Accept-Encoding": "identity"}
        )
        location = response.headers.get("Location", "")
        if 300 <= response.status_code < 400 and location and not urlparse(location).netloc:
            url = urlparse(url)._replace(path=urlparse(location).path).geturl()
            continue
        break
    if response.status_code >= 400:
        raise PretrainedMissingError(
            f"the server answered HTTP {response.status_code} for {url}; check --endpoint and --revision"
        )
    size = response.headers.get("X-Linked-Size") or response.headers.get("Content-Length")
    etag = response.headers.get("X-Linked-Etag") or response.headers.get("ETag")
    etag = etag.removeprefix("W/").strip('"') if etag else None
    return (int(size) if size and size.isdigit() else None), etag


def _plain_reason(exc: BaseException, endpoint: str, timeout_s: float) -> str:
    """One sentence for a failed download: the network errors say which host, never the client's repr."""
    import requests
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(exc, PretrainedMissingError):
        return str(exc)
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    if any(isinstance(e, OfflineModeIsEnabled) for e in chain):
        return "downloads are switched off by HF_HUB_OFFLINE; unset it to download"
    network = next((e for e in chain if isinstance(e, requests.RequestException)), None)
    if network is not None:
        url = network.request.url if network.request is not None and network.request.url else endpoint
        host = urlparse(url).netloc or endpoint
        if isinstance(network, requests.Timeout):
            return (
                f"{host} did not answer within {timeout_s:g} s (no network connection, or the host is down)"
            )
        if isinstance(network, requests.ConnectionError):
            return f"cannot reach {host} (no network connection, or the host is unreachable)"
        if isinstance(network, requests.HTTPError) and network.response is not None:
            return f"{host} answered HTTP {network.response.status_code}; check --endpoint and --revision"
        return f"{host} did not deliver the file ({type(network).__name__})"
    if isinstance(chain[0], OSError) and not isinstance(chain[0], requests.RequestException):
        return f"cannot write the file ({chain[0].strerror or chain[0]})"
    text = str(chain[0]).strip()
    return text.splitlines()[0] if text else type(chain[0]).__name__


def _fetch(file: PretrainedFile, local_dir: Path, endpoint: str, revision: str, timeout_s: float) -> Path:
    """Download one Hub file into `local_dir/<file.path>` (resumably) and verify it; any failure is a
    `PretrainedMissingError` whose text is one sentence (the cause is chained)."""
    import requests
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        # Probe first: huggingface_hub retries unreachable hosts for ~20 s, this fails in one attempt.
        size, etag = _probe(file.url(endpoint, revision), timeout_s)
        local = Path(
            hf_hub_download(
                file.repo_id,
                file.path,
                revision=revision,
                local_dir=local_dir,
                endpoint=endpoint,
                etag_timeout=timeout_s,
                token=False,
            )
        )
    except (
        requests.RequestException,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        OSError,
        PretrainedMissingError,
    ) as exc:
        raise PretrainedMissingError(_plain_reason(exc, endpoint, timeout_s)) from exc
    _verify(local, size, etag)
    return local


def download(
    root: str | os.PathLike,
    version: str = "v2",
    progress: Progress | None = None,
    *,
    include_training: bool = True,
    extras: tuple[str, ...] = (),
    endpoint: str = HUB_ENDPOINT,
    revision: str = DEFAULT_REVISION,
    timeout_s: float = 5.0,
) -> CheckReport:
    """Download what `check` reports missing into `root`, resumably, then verify size and sha256.

    `progress(done, total, path)` is called before each file and once at the end. Partial downloads are kept
    under `root/.cache/huggingface` and resumed next time. On any network failure it stops at once (no
    retries beyond one connection attempt of `timeout_s`) with a `PretrainedMissingError` naming every
    missing file, its URL and where to put it. Returns the final `check` report.
    """
    root = Path(root)
    report = check(root, version, include_training, extras)
    todo = report.missing
    root.mkdir(parents=True, exist_ok=True)
    for index, status in enumerate(todo):
        file = status.file
        if progress is not None:
            progress(index, len(todo), file.path)
        try:
            local = _fetch(file, root, endpoint, revision, timeout_s)
        except PretrainedMissingError as exc:
            left = check(root, version, include_training, extras).missing
            raise PretrainedMissingError(
                f"could not download {file.path}: {exc}.\n" + missing_message(left, root, endpoint, version)
            ) from exc
        if file.unpack_to is not None:
            _unpack(local, root, file.unpack_to)
            local.unlink(missing_ok=True)
    if progress is not None:
        progress(len(todo), len(todo), "")
    return check(root, version, include_training, extras)


# --------------------------------------------------------------------------------------------------
# ASR models (`python -m core dataset transcribe`): one folder per model under `<dir>/asr/<name>`

ASR_DIR = "asr"
_WHISPER_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
_WHISPER_V3_FILES = (
    "config.json",
    "model.bin",
    "preprocessor_config.json",
    "tokenizer.json",
    "vocabulary.json",
)
_SYSTRAN_SIZES = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v2",
)


def _whisper(repo_id: str, files: tuple[str, ...] = _WHISPER_FILES) -> tuple[PretrainedFile, ...]:
    return tuple(PretrainedFile(name, "asr", "extra", repo_id=repo_id) for name in files)


ASR_MODELS: dict[str, tuple[PretrainedFile, ...]] = {
    **{size: _whisper(f"Systran/faster-whisper-{size}") for size in _SYSTRAN_SIZES},
    "large-v3": _whisper("Systran/faster-whisper-large-v3", _WHISPER_V3_FILES),
    "large-v3-turbo": _whisper("mobiuslabsgmbh/faster-whisper-large-v3-turbo", _WHISPER_V3_FILES),
}
"""CTranslate2 Whisper models `download --asr NAME` fetches (the reference's faster-whisper sources)."""
DEFAULT_ASR_MODEL = "large-v3-turbo"
"""What the faster-whisper engine suggests downloading when no model is given and none is present."""
WHISPER_MARKERS = ("config.json", "model.bin")  # a CTranslate2 Whisper folder holds these
FUNASR_MARKERS = ("config.yaml", "model.pt")  # a FunASR (ModelScope) model folder holds these
AsrKind = Literal["faster-whisper", "funasr"]


def asr_folder_kind(folder: str | os.PathLike) -> AsrKind | None:
    """Which engine reads the model folder: faster-whisper, funasr, or None (not a model folder)."""
    folder = Path(folder)
    for kind, markers in (("faster-whisper", WHISPER_MARKERS), ("funasr", FUNASR_MARKERS)):
        if all((folder / name).is_file() for name in markers):
            return kind
    return None


def asr_download_command(name: str, root: str | os.PathLike) -> str:
    """The command that fetches ASR model `name` into `root` (for messages and the UI)."""
    return f"python -m core pretrained download --asr {name} --dir {root}"


def asr_models(root: str | os.PathLike) -> dict[str, AsrKind]:
    """The ASR model folders present under `<root>/asr/`, by name, with the engine that reads each."""
    base = Path(root) / ASR_DIR
    found = {}
    for folder in sorted(base.iterdir()) if base.is_dir() else ():
        kind = asr_folder_kind(folder)
        if kind is not None:
            found[folder.name] = kind
    return found


def describe_asr(root: str | os.PathLike) -> str:
    """One line per ASR model present (for `pretrained check`), or what to run when there is none."""
    found = asr_models(root)
    if not found:
        return (
            f"ASR models in {Path(root) / ASR_DIR}: none (pocketsphinx needs none; "
            f"`{asr_download_command(DEFAULT_ASR_MODEL, root)}` fetches a multilingual Whisper)"
        )
    lines = [f"ASR models in {Path(root) / ASR_DIR}:"]
    lines += [f"  ok      {kind:<14} {name}" for name, kind in found.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Vocal separation models (`python -m core dataset separate`): Demucs bags under `<dir>/separator/<name>`,
# as their author publishes them on the Hub (demucs 4.1's `demucs.hf`): `<name>.yaml` lists the models of
# the bag, one `<signature>.safetensors` each (weights, class and arguments in its metadata).

SEPARATOR_DIR = "separator"


def _demucs(repo_id: str, name: str, signatures: tuple[str, ...]) -> tuple[PretrainedFile, ...]:
    names = (f"{name}.yaml", *(f"{sig}.safetensors" for sig in signatures))
    return tuple(PretrainedFile(path, "separator", "extra", repo_id=repo_id) for path in names)


SEPARATOR_MODELS: dict[str, tuple[PretrainedFile, ...]] = {
    "htdemucs": _demucs("adefossez/HTDemucs", "htdemucs", ("955717e8",)),
    "htdemucs_ft": _demucs(
        "adefossez/HTDemucs-ft", "htdemucs_ft", ("f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d")
    ),
}
"""Demucs models `download --separator NAME` fetches: htdemucs (one model), htdemucs_ft (four fine-tuned
ones, about 4 times slower, slightly better)."""
DEFAULT_SEPARATOR = "htdemucs"


def separator_download_command(name: str, root: str | os.PathLike) -> str:
    """The command that fetches separation model `name` into `root` (for messages and the UI)."""
    return f"python -m core pretrained download --separator {name} --dir {root}"


def separator_missing(folder: str | os.PathLike) -> list[str]:
    """The files a separation model folder lacks: for a model of `SEPARATOR_MODELS` all of its files, for
    another (a Demucs bag of one's own) its `<folder name>.yaml`."""
    folder = Path(folder)
    files = SEPARATOR_MODELS.get(folder.name, (PretrainedFile(f"{folder.name}.yaml", "separator", "extra"),))
    return [f.path for f in files if _find_local(folder, f) is None]


def separator_models(root: str | os.PathLike) -> list[str]:
    """The complete separation model folders under `<root>/separator/` (see `separator_missing`)."""
    base = Path(root) / SEPARATOR_DIR
    folders = sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
    return [d.name for d in folders if not separator_missing(d)]


def describe_separators(root: str | os.PathLike) -> str:
    """One line for `pretrained check`: the separation models present, or what to run when there is none."""
    found = separator_models(root)
    if found:
        return f"Vocal separation models in {Path(root) / SEPARATOR_DIR}: {', '.join(found)}"
    return (
        f"Vocal separation models in {Path(root) / SEPARATOR_DIR}: none (optional; "
        f"`{separator_download_command(DEFAULT_SEPARATOR, root)}` fetches one)"
    )


# --------------------------------------------------------------------------------------------------
# Downloading one model folder of either kind

ModelKind = Literal["asr", "separator"]
_MODEL_KINDS: dict[str, tuple[str, dict[str, tuple[PretrainedFile, ...]], Callable[..., str], str]] = {
    "asr": (ASR_DIR, ASR_MODELS, asr_download_command, "ASR model"),
    "separator": (SEPARATOR_DIR, SEPARATOR_MODELS, separator_download_command, "vocal separation model"),
}


def download_model(
    kind: ModelKind,
    root: str | os.PathLike,
    name: str,
    progress: Progress | None = None,
    *,
    endpoint: str = HUB_ENDPOINT,
    revision: str = DEFAULT_REVISION,
    timeout_s: float = 5.0,
) -> Path:
    """Fetch the files of model `name` (of `ASR_MODELS` or `SEPARATOR_MODELS`, by `kind`) missing from
    `<root>/<asr or separator>/<name>`, like `download` (resumable, verified, one connection attempt); a
    failure names the files left, their URLs and the command to rerun. Returns the model folder."""
    folder, table, command, what = _MODEL_KINDS[kind]
    if name not in table:
        raise PretrainedMissingError(f"unknown {what} {name!r}; expected one of {', '.join(table)}")
    target = Path(root) / folder / name
    todo = [f for f in table[name] if _find_local(target, f) is None]
    target.mkdir(parents=True, exist_ok=True)
    for index, file in enumerate(todo):
        if progress is not None:
            progress(index, len(todo), f"{folder}/{name}/{file.path}")
        try:
            _fetch(file, target, endpoint, revision, timeout_s)
        except PretrainedMissingError as exc:
            left = [f for f in table[name] if _find_local(target, f) is None]
            by_hand = "".join(f"\n  {f.url(endpoint)}\n    -> {target / f.path}" for f in left)
            raise PretrainedMissingError(
                f"could not download {file.repo_id}/{file.path}: {exc}.\n{len(left)} file(s) missing; run "
                f"`{command(name, root)}` when online, or download by hand:{by_hand}"
            ) from exc
    if progress is not None:
        progress(len(todo), len(todo), "")
    return target


download_asr = functools.partial(download_model, "asr")
"""`download_model` for a Whisper model of `ASR_MODELS`, into `<root>/asr/<name>`."""
download_separator = functools.partial(download_model, "separator")
"""`download_model` for a Demucs model of `SEPARATOR_MODELS`, into `<root>/separator/<name>`."""
