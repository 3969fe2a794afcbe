"""End-to-end conformance: every `tts_e2e_*` case of the shared fixtures, through `Synthesizer`.

Each case folder holds the reference's `TTS.run` request, the model pair it loaded and the int16 audio it
returned; the models are loaded from those official files by Timbre's own loaders (once per pair).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.checkpoints import load_sovits, load_t2s
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent
from core.synthesis import SynthesisRequest, Synthesizer

REPO_ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("TIMBRE_SHARED", REPO_ROOT.parent / "shared")).resolve()

# Request keys of the reference's TTS.run that only concern v3/v4 models or streaming (not this path).
_IGNORED_REQUEST_KEYS = {
    "sample_steps",
    "super_sampling",
    "return_fragment",
    "streaming_mode",
    "overlap_length",
    "min_chunk_length",
    "fixed_length_chunk",
}
_SAME_NAME_KEYS = {
    "text",
    "text_lang",
    "prompt_text",
    "prompt_lang",
    "top_k",
    "top_p",
    "temperature",
    "repetition_penalty",
    "text_split_method",
    "batch_size",
    "batch_threshold",
    "split_bucket",
    "speed_factor",
    "fragment_interval",
    "seed",
    "parallel_infer",
}


def _e2e_case_ids() -> list[str]:
    manifest = _SHARED / "conformance" / "manifest.json"
    if not manifest.is_file():
        return []
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    return sorted(e["id"] for e in entries if e.get("kind") == "tts_e2e")


def _case_dir(conformance_dir: Path, case_id: str) -> Path:
    entries = json.loads((conformance_dir / "manifest.json").read_text(encoding="utf-8"))
    entry = next(e for e in entries if e["id"] == case_id)
    return conformance_dir / entry.get("dir", f"cases/{case_id}")


def _resolve(path: str, case_dir: Path, conformance_dir: Path) -> Path:
    if path.startswith("<shared>"):
        return conformance_dir / path.removeprefix("<shared>").lstrip("/")
    return (case_dir / path).resolve()


def _noise_scale(case: dict) -> float:
    """The decode noise the case ran with: a documented patch, else SoVITS's default of 0.5."""
    for patch in case.get("patches", []):
        found = re.search(r"noise_scale\s*=\s*([0-9.]+)", patch)
        if found:
            return float(found.group(1))
    return SynthesisRequest.noise_scale


def _request(case: dict, case_dir: Path, conformance_dir: Path) -> SynthesisRequest:
    raw = case["request"]
    unknown = set(raw) - _SAME_NAME_KEYS - _IGNORED_REQUEST_KEYS - {"ref_audio_path", "aux_ref_audio_paths"}
    assert not unknown, f"request keys this test does not map: {unknown}"
    kwargs = {k: raw[k] for k in _SAME_NAME_KEYS if k in raw}
    return SynthesisRequest(
        ref_audio_path=_resolve(raw["ref_audio_path"], case_dir, conformance_dir),
        aux_ref_audio_paths=tuple(
            _resolve(p, case_dir, conformance_dir) for p in raw.get("aux_ref_audio_paths") or []
        ),
        noise_scale=_noise_scale(case),
        reference_compat=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def synthesizers(conformance_dir: Path):
    """Loaded model sets keyed by (gpt, sovits, bert, hubert) paths: each pair is loaded once."""
    cache: dict[tuple[Path, ...], Synthesizer] = {}

    def get(case: dict, case_dir: Path) -> Synthesizer:
        cfg = case["tts_config"]
        paths = tuple(
            _resolve(cfg[k], case_dir, conformance_dir)
            for k in ("t2s_weights_path", "vits_weights_path", "bert_base_path", "cnhuhbert_base_path")
        )
        if paths not in cache:
            gpt, sovits, bert_dir, hubert_dir = paths
            device = cfg.get("device", "cpu")
            cache[paths] = Synthesizer(
                load_t2s(gpt, device=device),
                load_sovits(sovits, device=device),
                HubertContent.from_pretrained(hubert_dir, device=device),
                BertPhoneFeatures.from_pretrained(bert_dir, device=device),
                device=device,
            )
        return cache[paths]

    return get


@pytest.mark.parametrize("case_id", _e2e_case_ids())
def test_tts_e2e_matches_reference_audio(case_id: str, conformance_dir: Path, synthesizers):
    case_dir = _case_dir(conformance_dir, case_id)
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    synth = synthesizers(case, case_dir)

    result = synth.synthesize_result(_request(case, case_dir, conformance_dir))

    expected, expected_sr = sf.read(case_dir / "audio.wav", dtype="int16")
    assert result.sample_rate == expected_sr == case["output_sr"]
    assert result.audio.dtype == np.int16
    recorded = case.get("t2s_generated_tokens_per_call")
    if recorded is not None:  # observation only, but it pinpoints a T2S mismatch before the audio does
        expected_tokens = sorted(tuple(t) for call in recorded for t in call)
        assert sorted(result.tokens) == expected_tokens
    assert result.audio.shape == expected.shape
    max_diff = int(np.abs(result.audio.astype(np.int32) - expected.astype(np.int32)).max())
    assert max_diff <= case["tolerance"]["audio"]["max_abs_int16"], f"max int16 diff {max_diff}"


def test_seeded_synthesis_is_reproducible(conformance_dir: Path, synthesizers):
    case_id = "tts_e2e_zh_seed_rng"
    if case_id not in _e2e_case_ids():
        pytest.skip(f"{case_id} not in this fixture set")
    case_dir = _case_dir(conformance_dir, case_id)
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    synth = synthesizers(case, case_dir)
    request = _request(case, case_dir, conformance_dir)
    first = synth.synthesize_result(request)
    second = synth.synthesize_result(request)
    assert first.seed == second.seed == case["request"]["seed"]
    assert np.array_equal(first.audio, second.audio)
