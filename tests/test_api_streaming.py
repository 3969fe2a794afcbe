"""Chunked streaming (api_v2's streaming_mode 2 and 3) below HTTP: audio is handed on while a fragment is
still being read, the chunks add up to the result, and a streamed job's chunks carry the watermark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core import ethics
from core.errors import SynthesisError
from core.ethics import ResponsibleUse, start_marking
from core.jobs import JobContext, ModelCache, SynthesisJob
from core.jobs import synthesis as synthesis_kind
from core.output import FragmentSpool
from core.settings import FP32
from core.synthesis import SynthesisRequest, Synthesizer
from core.workspace import Workspace
from tests.jobs_fixtures import PROMPT_TEXT, voices

TEXT = "你好，我们来听听。这是第二句话，再听听。"


def _request(clip: str, **overrides) -> SynthesisRequest:
    fields = dict(
        text=TEXT,
        text_lang="zh",
        ref_audio_path=clip,
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        seed=11,
        max_sec=1.2,
        text_split_method="cut5",
    )
    return SynthesisRequest(**{**fields, **overrides})


@pytest.fixture(scope="module")
def voice(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    workspace = Workspace.open(tmp_path_factory.mktemp("chunks") / "ws")
    voice_a, _ = voices(conformance_dir, workspace.root)
    # fp32: greedy chunks read the whole request's tokens when both decodes run the same numbers; a fast
    # mode's int8 kernel rounds a batch of fragments differently from one, which flips near-ties of the
    # random tiny model (tests/test_precision.py bounds that drift).
    return workspace, voice_a, ModelCache(conformance_dir / "models" / "pretrained", precision=FP32)


@pytest.mark.parametrize("at_pauses", [False, True])
def test_chunks_are_handed_on_before_their_fragment_is_read(voice, at_pauses: bool) -> None:
    _, clip, models = voice
    synth = models.synthesizer(clip.gpt, clip.sovits)
    events: list = []
    request = _request(clip.clip, chunk_tokens=4, chunk_at_pauses=at_pauses)
    result = synth.synthesize_result(
        request,
        on_progress=lambda fraction, message: events.append(message),
        on_fragment=lambda index, audio: events.append((index, audio)),
    )
    chunks = [event for event in events if isinstance(event, tuple)]
    assert [index for index, _ in chunks] == list(range(len(chunks)))
    np.testing.assert_array_equal(np.concatenate([audio for _, audio in chunks]), result.audio)
    silence = int(synth.sample_rate * request.fragment_interval)
    tokens = sum(len(t) for t in result.tokens)
    assert len(result.audio) == tokens * synth._samples_per_token + len(result.tokens) * silence
    if not at_pauses:  # the random tiny model says no pause-like token: mode 2 then sends whole fragments
        first_read = events.index(f"read 1 of {len(result.tokens)} fragments")
        assert sum(isinstance(event, tuple) for event in events[:first_read]) >= 2


def test_greedy_chunks_read_the_same_tokens_as_the_whole_request(voice) -> None:
    _, clip, models = voice
    synth: Synthesizer = models.synthesizer(clip.gpt, clip.sovits)
    whole = synth.synthesize_result(_request(clip.clip, top_k=1))
    chunked = synth.synthesize_result(
        _request(clip.clip, top_k=1, chunk_tokens=4), on_fragment=lambda i, a: None
    )
    assert chunked.tokens == whole.tokens and len(chunked.audio) == len(whole.audio)
    # Without a streaming consumer (or with a pitch shift) nothing is chunked: the whole request's audio.
    plain = synth.synthesize_result(_request(clip.clip, top_k=1, chunk_tokens=4))
    np.testing.assert_array_equal(plain.audio, whole.audio)


def test_a_chunked_stream_job_spools_marked_chunks_that_make_its_file(voice) -> None:
    workspace, clip, models = voice
    start_marking(workspace.root, ResponsibleUse())
    request = _request(clip.clip, chunk_tokens=6)
    job = SynthesisJob(request, clip.gpt, clip.sovits, interface="api", stream=True, consent="test speakers")
    context = JobContext.standalone(workspace, models)
    result = synthesis_kind.run(job, context)
    spool = FragmentSpool(workspace, context.job_id)
    pieces = []
    while (piece := spool.take(len(pieces))) is not None:
        pieces.append(piece[0])
    assert len(pieces) > 2 * 2  # more chunks than fragments (and their silences)
    audio, sr = sf.read(result.files[0], dtype="int16")
    np.testing.assert_array_equal(np.concatenate(pieces), audio)
    found = ethics.detect(audio, sr, [ethics.load_install_key(workspace.root)])
    assert found.detected and found.signed_by_this_install is True


def test_chunk_settings_are_checked() -> None:
    with pytest.raises(SynthesisError, match="chunk_tokens must be"):
        _request("clip.wav", chunk_tokens=-1)
    with pytest.raises(SynthesisError, match="chunk_overlap_tokens must be an integer"):
        _request("clip.wav", chunk_overlap_tokens=1.5)


def test_a_tail_decode_with_all_context_is_the_whole_decode_cut(voice) -> None:
    _, clip, models = voice
    synth: Synthesizer = models.synthesizer(clip.gpt, clip.sovits)
    sovits, spec = synth.sovits.model, synth.reference(clip.clip).spec
    codes = torch.randint(0, 1024, (1, 1, 20), generator=torch.Generator().manual_seed(0))
    phones = torch.tensor(synth.text_features(TEXT, "zh").phone_ids)[None]
    whole = sovits.decode(codes, phones, [spec], noise_scale=0)
    for start, contexts in ((0, (0, 0)), (8, (8, 8)), (8, (12, 30))):
        tail = sovits.decode_tail(
            codes, phones, [spec], start, 0, flow_context=contexts[0], vocoder_context=contexts[1]
        )
        per_token = whole.shape[-1] // codes.shape[-1]
        torch.testing.assert_close(tail, whole[:, :, start * per_token :], rtol=0, atol=0)
    # Less context than the layers reach changes the audio a little (what streaming trades for speed).
    short = sovits.decode_tail(codes, phones, [spec], 8, 0, flow_context=2, vocoder_context=1)
    assert short.shape == whole[:, :, 8 * per_token :].shape and not torch.equal(
        short, whole[:, :, 8 * per_token :]
    )
