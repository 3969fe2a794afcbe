"""Voices, requests and helpers shared by the queue tests (tiny fixture models, real huey storage)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from core.jobs import JobRecord
from core.synthesis import SynthesisRequest

PROMPT_TEXT = "这是一段用于测试的参考音频。"
LINES = [f"第{i}句话，我们来听听。" for i in range(1, 51)]


@dataclasses.dataclass(frozen=True)
class Voice:
    gpt: str
    sovits: str
    clip: str


def voices(conformance_dir: Path, workspace_root: Path) -> tuple[Voice, Voice]:
    """Two different voices: the pretrained tiny pair with the fixture clip, and the fine-tuned tiny pair
    with that clip played backwards (copied into the workspace, as uploads are)."""
    models = conformance_dir / "models"
    base = models / "pretrained" / "gsv-v2final-pretrained"
    clip = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    uploads = workspace_root / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    wav, sr = sf.read(clip, dtype="int16")
    sf.write(uploads / "a.wav", wav, sr)
    sf.write(uploads / "b.wav", np.ascontiguousarray(wav[::-1]), sr)
    return (
        Voice(str(next(base.glob("*.ckpt"))), str(next(base.glob("*.pth"))), str(uploads / "a.wav")),
        Voice(
            str(models / "weights" / "tiny_v2-e1.ckpt"),
            str(models / "weights" / "tiny_v2_e1_s1.pth"),
            str(uploads / "b.wav"),
        ),
    )


def request(voice: Voice, text: str = "欢迎来到音色工作室。", **overrides) -> SynthesisRequest:
    """A seeded request; `max_sec` keeps the random-weight models (which rarely say EOS) short."""
    fields = dict(
        text=text,
        text_lang="zh",
        ref_audio_path=voice.clip,
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        seed=11,
        max_sec=0.6,
    )
    fields.update(overrides)
    return SynthesisRequest(**fields)


def holds(records: list[JobRecord]) -> list[tuple[float, float]]:
    return [(start, end) for record in records for start, end in record.holds if end is not None]


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an interval ending when another starts does not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = inside = 0
    for _, delta in events:
        inside += delta
        peak = max(peak, inside)
    return peak


def read_audio(path: str) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]
