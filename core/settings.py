"""Settings parsed once by `app.py` (or the CLI) and passed down; nothing in `core` reads flags or env."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import SettingsError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SHARE_LINK_HOURS = 72  # how long gradio's share server (gradio.live) keeps a link
# How inference weights are stored (core/models/precision.py): fp32 is the exact path (the reference's
# numbers); bf16 and int8 are faster on CPU and drift slightly.
PRECISIONS = ("fp32", "bf16", "int8")
FP32, BF16, INT8 = PRECISIONS
# `auto` (the default) is resolved per machine by `check_precision`: int8 on CPUs with AVX512-BF16, the
# feature set on which it was measured fastest and passed the quality check (core/models/precision.py;
# bench/synthesis.py, bench/precision_check.py); fp32 elsewhere (GPUs, and CPUs where no fast mode has been
# measured: without native bf16 its conversions could cost more than they save), and for reference-compat.
AUTO = "auto"
DEFAULT_PRECISION = AUTO


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    workspace: Path = Path("workspace")
    pretrained_dir: Path = Path("pretrained")
    device: str = "cpu"
    precision: str = DEFAULT_PRECISION  # one of PRECISIONS, or AUTO (resolved by check_precision)
    share: bool = False
    # Longest text one request may read (characters). 5,000 is about 1,000 English words or 20 minutes of
    # Chinese speech: a long article, but bounded work per request; longer texts are split by the caller.
    max_text_chars: int = 5000
    # Largest file one upload may be (MB; --max-upload-mb): a 10 s reference clip is far smaller, even as
    # 48 kHz stereo WAV, and an exported voice is its clip plus a few kB.
    max_upload_mb: float = 20.0
    # Longest extra reference clip (--max-aux-seconds): an extra clip only lends timbre, so longer only costs.
    max_aux_ref_seconds: float = 30.0
    # The job queue: None = SQLite in the workspace; "redis://HOST:PORT/DB" when several machines serve it.
    queue_url: str | None = None
    gpu_jobs: int = 1  # heavy jobs running at once on this machine's device (the device lease)
    workers: bool = True  # run jobs in this process (False: only submit; `python -m core worker` runs them)
    # Who may use the studio and its API: (user, password) pairs; empty = anyone who can reach the port.
    auth: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # An absolute, normalised folder: the file lists built from it must pass the path checks that refuse
        # '..' (a relative `--pretrained ../models` named files the studio then refused as its own).
        folder = os.path.abspath(os.path.expanduser(self.pretrained_dir))
        object.__setattr__(self, "pretrained_dir", Path(folder))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def open_to_others(self) -> bool:
        """True when people on other machines can reach the studio without a login: `--share`, or a host other
        than this machine's loopback, with no `--auth`."""
        return not self.auth and (self.share or self.host not in LOOPBACK_HOSTS)


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


def default_precision(device: str = "cpu", *, reference_compat: bool = False) -> str:
    """What `auto` means here (see `AUTO`): int8 on a CPU with AVX512-BF16 (the encoders' bf16) and torch's
    int8 kernels, else fp32; always fp32 for reference-compat work, which wants the reference's numbers."""
    import torch  # deferred: importing settings must stay cheap

    fast_cpu = device == "cpu" and torch._C._cpu._is_avx512_bf16_supported() and _int8_kernels_available()
    return INT8 if fast_cpu and not reference_compat else FP32


def check_precision(precision: str, device: str = "cpu", *, reference_compat: bool = False) -> str:
    """`precision` (`auto` resolved by `default_precision`) if it is one of `PRECISIONS` and runs on
    `device`, else a `SettingsError` saying what to use instead."""
    import torch  # deferred: importing settings must stay cheap

    if precision == AUTO:
        return default_precision(device, reference_compat=reference_compat)
    if precision not in PRECISIONS:
        raise SettingsError(
            f"precision {precision!r} is unknown; use {AUTO} or one of {', '.join(PRECISIONS)}"
        )
    if precision == INT8 and device != "cpu":
        raise SettingsError(f"precision {INT8} runs on the CPU only; on {device} use {BF16} or {FP32}")
    if precision == INT8 and not _int8_kernels_available():
        raise SettingsError(
            f"precision {INT8} needs torch's fbgemm int8 CPU kernels, which this torch {torch.__version__} "
            f"build lacks; use {BF16} or {FP32}"
        )
    return precision


def _int8_kernels_available() -> bool:
    import torch

    return bool({"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines))


MAX_GPU_JOBS = 64


def check_gpu_jobs(gpu_jobs: int) -> int:
    """`gpu_jobs` if it is a sensible number of heavy jobs at once, else a `SettingsError`."""
    if not 1 <= gpu_jobs <= MAX_GPU_JOBS:
        raise SettingsError(f"--gpu-jobs {gpu_jobs}: use a number from 1 to {MAX_GPU_JOBS}")
    return gpu_jobs


def read_credentials(pairs: list[str], auth_file: Path | None = None) -> tuple[tuple[str, str], ...]:
    """(user, password) pairs from `--auth USER:PASS` values and an `--auth-file` (one USER:PASS a line;
    blank lines and lines starting with # are skipped). A malformed entry is a `SettingsError` naming it."""
    entries = [(f"--auth {pair.split(':', 1)[0]}:…", pair) for pair in pairs]
    if auth_file is not None:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SettingsError(f"--auth-file {auth_file}: cannot read it ({exc.strerror or exc})") from exc
        for number, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                entries.append((f"{auth_file} line {number}", line.strip()))
    credentials: dict[str, str] = {}
    for where, pair in entries:
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            raise SettingsError(f"{where}: write USER:PASSWORD (both non-empty)")
        credentials[user] = password
    return tuple(credentials.items())
