"""The HTTP API against a live `python app.py` on the tiny fixture models: a client written from the
reference's api_v2 documentation (GET/POST /tts, set_* routes, media types, streaming, errors), path
attacks, and concurrent requests in two voices compared with the same requests run through the library."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import urllib.parse
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from core.api import check_credentials
from core.errors import SettingsError
from core.ethics import ResponsibleUse, start_marking
from core.jobs import BatchSynthesisJob, JobContext, JobQueue, JobState, ModelCache, SynthesisJob
from core.jobs import synthesis as synthesis_kind
from core.output import WAV_STREAM_SIZE
from core.settings import FP32, read_credentials
from core.synthesis import SynthesisRequest
from core.voices import VoiceStore, export_voice
from core.workspace import Workspace, confine
from tests.browser import running_studio
from tests.jobs_fixtures import PROMPT_TEXT, holds, peak_overlap, read_audio, voices

TEXT = "欢迎来到音色工作室。"
TWO_FRAGMENTS = "你好，我们来听听。这是第二句话，再听听。"
MAX_CHARS = 200
TIMEOUT_S = 120.0
CONSENT_STATEMENT = "The fixtures' speakers consented to these tests"
MAX_UPLOAD_MB = 1.5
MAX_AUX_SECONDS = 4.0  # the fixture clip lasts 4.6 s


@dataclass(frozen=True)
class Studio:
    url: str
    workspace: Path
    pretrained: Path
    outside_clip: Path  # valid audio outside the workspace and the pretrained folder
    models: ModelCache  # the library side of the comparisons
    alone: dict = field(default_factory=dict)  # library results already computed, by request


@pytest.fixture(scope="module")
def studio(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("api")
    workspace = root / "ws"
    voice_a, voice_b = voices(conformance_dir, workspace)
    weights = workspace / "weights"  # the fine-tuned pair, imported into the workspace
    weights.mkdir(parents=True, exist_ok=True)
    shutil.copy(voice_b.gpt, weights / Path(voice_b.gpt).name)
    shutil.copy(voice_b.sovits, weights / Path(voice_b.sovits).name)
    pretrained = conformance_dir / "models" / "pretrained"
    # These tests compare model numerics (the API against the library): the watermark is off on both sides
    # (tests/test_watermark_paths.py checks the marks). The fixtures' clips run under an operator statement.
    start_marking(workspace, ResponsibleUse(watermark=False))
    # fp32 on both sides: the greedy chunk test needs a batched and a one-fragment decode to run the same
    # numbers (see tests/test_api_streaming.py); every API-vs-library comparison holds in any precision.
    extra = ["--max-chars", str(MAX_CHARS), "--no-watermark", "--consent-statement", CONSENT_STATEMENT]
    extra += ["--precision", FP32]
    extra += ["--max-upload-mb", str(MAX_UPLOAD_MB), "--max-aux-seconds", str(MAX_AUX_SECONDS)]
    with running_studio(workspace, pretrained, extra_args=extra) as running:
        studio = Studio(
            running.url.rstrip("/"),
            workspace.resolve(),
            pretrained,
            conformance_dir / "cases" / "_inputs" / "ref_16k.wav",
            ModelCache(pretrained, precision=FP32),
        )
        # Both processes load their models at once: the studio on a first request, this one for `library`.
        with ThreadPoolExecutor(1) as pool:
            warm = pool.submit(get, studio, "/tts", params(VOICE_A))
            library(studio, VOICE_A)
            assert warm.result().status_code == 200, warm.result().text
        yield studio


# The two voices as an API client names them (paths relative to the workspace or the pretrained folder).
A_CLIP = {"ref_audio_path": "uploads/a.wav"}  # with the caller's current (by default the base) weights
VOICE_A = {
    **A_CLIP,
    "gpt_weights_path": "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
    "sovits_weights_path": "gsv-v2final-pretrained/s2G2333k.pth",
}
VOICE_B = {
    "ref_audio_path": "uploads/b.wav",
    "gpt_weights_path": "weights/tiny_v2-e1.ckpt",
    "sovits_weights_path": "weights/tiny_v2_e1_s1.pth",
}


def params(voice: dict, text: str = TEXT, **overrides) -> dict:
    base = dict(text=text, text_lang="zh", prompt_text=PROMPT_TEXT, prompt_lang="zh", seed=11, max_sec=0.6)
    return {**base, **voice, **overrides}


def library_job(studio: Studio, voice: dict, text: str = TEXT, **overrides) -> SynthesisJob:
    """The job a `/tts` request with these parameters stands for, built as the library's caller would."""
    p = {**params({**VOICE_A, **voice}, text, **overrides)}
    roots = (studio.workspace, studio.pretrained)
    gpt, sovits = (str(confine(p.pop(key), roots)) for key in ("gpt_weights_path", "sovits_weights_path"))
    p["ref_audio_path"] = str(confine(p["ref_audio_path"], roots))
    return SynthesisJob(SynthesisRequest(**{"text_split_method": "cut5", **p}), gpt, sovits)  # api_v2's split


def library(studio: Studio, voice: dict, text: str = TEXT, **overrides) -> np.ndarray:
    """The same request run through the library: the job kind's `run`, no queue, no HTTP."""
    key = tuple(sorted(params({**VOICE_A, **voice}, text, **overrides).items()))
    if key not in studio.alone:
        job = library_job(studio, voice, text, **overrides)
        context = JobContext.standalone(Workspace.open(studio.workspace), studio.models)
        studio.alone[key] = read_audio(synthesis_kind.run(job, context).files[0])
    return studio.alone[key]


def wav(body: bytes) -> np.ndarray:
    return sf.read(io.BytesIO(body), dtype="int16")[0]


def ffmpeg_decode(body: bytes) -> np.ndarray:
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "pipe:1"],
        input=body,
        capture_output=True,
        check=True,
    )
    return np.frombuffer(proc.stdout, dtype="<i2")


def get(studio: Studio, route: str, query: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.get(studio.url + route, params=query, timeout=TIMEOUT_S, **kwargs)


def test_get_and_post_tts_equal_the_library_call(studio: Studio) -> None:
    expected = library(studio, VOICE_A)
    by_get = get(studio, "/tts", params(VOICE_A))
    by_post = httpx.post(studio.url + "/tts", json=params(VOICE_A), timeout=TIMEOUT_S)
    assert by_get.status_code == 200, by_get.text
    assert by_get.headers["content-type"] == "audio/wav"
    assert by_post.status_code == 200, by_post.text
    np.testing.assert_array_equal(wav(by_get.content), expected)
    np.testing.assert_array_equal(wav(by_post.content), expected)


def test_weights_and_reference_set_by_a_caller_are_that_callers_own(studio: Studio) -> None:
    for route, key, value in (
        ("/set_gpt_weights", "weights_path", VOICE_B["gpt_weights_path"]),
        ("/set_sovits_weights", "weights_path", VOICE_B["sovits_weights_path"]),
        ("/set_refer_audio", "refer_audio_path", VOICE_B["ref_audio_path"]),
    ):
        answer = get(studio, route, {key: value})
        assert (answer.status_code, answer.json()) == (200, {"message": "success"})
    no_ref = params({})
    answer = get(studio, "/tts", no_ref)  # this caller's voice is now B
    assert answer.status_code == 200, answer.text
    np.testing.assert_array_equal(wav(answer.content), library(studio, VOICE_B))
    # Another caller (through the share link) has chosen nothing: no reference, the default weights.
    other = get(studio, "/tts", no_ref, headers={"Host": "abc123.gradio.live"})
    assert (other.status_code, other.json()) == (400, {"message": "ref_audio_path is required"})
    other = get(studio, "/tts", params(A_CLIP), headers={"Host": "abc123.gradio.live"})
    np.testing.assert_array_equal(wav(other.content), library(studio, VOICE_A))


def test_every_media_type_decodes_to_the_same_length(studio: Studio) -> None:
    reference = library(studio, VOICE_A)
    raw = get(studio, "/tts", params(VOICE_A, media_type="raw"))
    assert raw.headers["content-type"] == "audio/raw"
    np.testing.assert_array_equal(np.frombuffer(raw.content, dtype="<i2"), reference)
    for media_type in ("ogg", "aac"):
        answer = get(studio, "/tts", params(VOICE_A, media_type=media_type))
        assert answer.headers["content-type"] == f"audio/{media_type}"
        decoded = ffmpeg_decode(answer.content)
        # Lossy codecs add encoder delay/padding (AAC: 1024-sample frames at the model's 32 kHz).
        assert abs(len(decoded) - len(reference)) <= 2048, media_type


@pytest.mark.parametrize("mode", [1, "true"])
def test_streamed_wav_decodes_to_the_non_streamed_audio(studio: Studio, mode) -> None:
    whole = library(studio, VOICE_A, TWO_FRAGMENTS)
    with httpx.stream(
        "GET",
        studio.url + "/tts",
        params=params(VOICE_A, TWO_FRAGMENTS, streaming_mode=mode),
        timeout=TIMEOUT_S,
    ) as answer:
        assert answer.status_code == 200
        chunks = list(answer.iter_bytes())
    body = b"".join(chunks)
    assert body[:4] == b"RIFF" and int.from_bytes(body[40:44], "little") == WAV_STREAM_SIZE
    np.testing.assert_array_equal(wav(body), whole)
    np.testing.assert_array_equal(ffmpeg_decode(body), whole)


@pytest.mark.parametrize("mode", [2, 3])
def test_chunked_streams_play_and_last_as_long_as_the_whole_file(studio: Studio, mode: int) -> None:
    # Greedy T2S (top_k=1) makes the same tokens whatever the random draws, so the chunks add up to exactly
    # the whole file's length (each token is 1280 samples either way). With sampling, a chunked run draws
    # SoVITS noise between T2S steps, so its tokens (and length) differ as two samplings of a request do.
    # noise_scale=0 makes SoVITS deterministic: what differs is only the chunks' shorter context and their
    # cross-faded joins.
    query = params(VOICE_A, TWO_FRAGMENTS, top_k=1, noise_scale=0, max_sec=1.2)
    whole = wav(get(studio, "/tts", query).content).astype(np.float64)
    chunked = {**query, "streaming_mode": mode, "min_chunk_length": 4, "overlap_length": 1}
    with httpx.stream("GET", studio.url + "/tts", params=chunked, timeout=TIMEOUT_S) as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    streamed = wav(body).astype(np.float64)
    assert len(streamed) == len(whole) == len(ffmpeg_decode(body))
    snr_db = 10 * np.log10(np.sum(whole**2) / max(np.sum((streamed - whole) ** 2), 1e-9))
    assert snr_db > 25, snr_db


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"text": None}, 400, "text is required"),
        ({"text_lang": None}, 400, "text_lang is required"),
        ({"prompt_lang": None}, 400, "prompt_lang is required"),
        ({"text_lang": "ja"}, 400, "text_lang: ja is not supported yet"),
        ({"prompt_lang": "yue"}, 400, "prompt_lang: yue is not supported yet"),
        ({"text_lang": "xx"}, 400, "text_lang: xx is not supported in version v2"),
        ({"media_type": "mp4"}, 400, "media_type: mp4 is not supported"),
        (
            {"streaming_mode": 7},
            400,
            "the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)",
        ),
        ({"text_split_method": "cut9"}, 400, "text_split_method:cut9 is not supported"),
        ({"text": "字" * (MAX_CHARS + 1)}, 400, f"over the limit of {MAX_CHARS}"),
        ({"top_k": "many"}, 422, "top_k:"),
        ({"temperature": 0}, 422, "temperature:"),
        ({"pitch": 99}, 422, "pitch:"),
        ({"voice": "alloy"}, 422, "voice is not a parameter Timbre knows"),
    ],
)
def test_bad_parameters_get_the_reference_error_shape(studio: Studio, overrides, status, message) -> None:
    query = {k: v for k, v in {**params(VOICE_A), **overrides}.items() if v is not None}
    for answer in (
        get(studio, "/tts", query),
        httpx.post(studio.url + "/tts", json=query, timeout=TIMEOUT_S),
    ):
        assert answer.status_code == status, answer.text
        assert message in answer.json()["message"]


def test_a_body_that_is_not_json_is_named_so(studio: Studio) -> None:
    body = '{"text": "你好", "text_lang": "zh",'  # cut off
    answer = httpx.post(studio.url + "/tts", content=body.encode(), timeout=TIMEOUT_S,
                        headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert "the request body is not valid JSON (" in answer.json()["message"], answer.text
    answer = httpx.post(studio.url + "/v1/audio/speech", content=body.encode(), timeout=TIMEOUT_S,
                        headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert "the request body is not valid JSON (" in answer.json()["error"]["message"], answer.text


def test_ignored_api_v2_fields_are_accepted(studio: Studio) -> None:
    extras = dict(sample_steps=8, super_sampling=True, overlap_length=4, min_chunk_length=8)
    answer = httpx.post(studio.url + "/tts", json=params(VOICE_A, **extras), timeout=TIMEOUT_S)
    assert answer.status_code == 200, answer.text


def test_path_attacks_are_refused(studio: Studio) -> None:
    link = studio.workspace / "uploads" / "link_out.wav"
    link.symlink_to(studio.outside_clip)  # valid audio, but outside the workspace
    attacks = [
        "../../../etc/passwd",
        "uploads/../../outside.wav",
        "/etc/passwd",
        str(studio.outside_clip),
        "uploads/link_out.wav",
        "~/.bashrc",
        "uploads/%2e%2e/%2e%2e/etc/passwd",  # stays encoded after the one decoding a server does
        "uploads/a.wav\x00.txt",
    ]
    for attack in attacks:
        answer = get(studio, "/tts", params({"ref_audio_path": attack}))
        assert answer.status_code == 400, attack
        assert answer.json()["message"].startswith("ref_audio_path"), answer.text
        answer = get(studio, "/tts", params(VOICE_A, aux_ref_audio_paths=[attack]))
        assert answer.status_code == 400, attack
        for route, key in (
            ("/set_gpt_weights", "weights_path"),
            ("/set_sovits_weights", "weights_path"),
            ("/set_refer_audio", "refer_audio_path"),
        ):
            answer = get(studio, route, {key: attack})
            assert answer.status_code == 400, (route, attack)
            assert set(answer.json()) == {"message", "Exception"}
    # Encoded on the wire: the server decodes once to '../..', which is refused.
    raw = (
        "/tts?"
        + urllib.parse.urlencode(params({}), safe="")
        + "&ref_audio_path=%2e%2e%2f%2e%2e%2fetc%2fpasswd"
    )
    assert httpx.get(studio.url + raw, timeout=TIMEOUT_S).status_code == 400
    outside_weights = studio.pretrained.parent / "weights" / "tiny_v2-e1.ckpt"
    answer = get(studio, "/tts", params(VOICE_A, gpt_weights_path=str(outside_weights)))
    assert answer.status_code == 400 and "outside the allowed folders" in answer.json()["message"]


def test_control_answers_only_callers_on_this_machine(studio: Studio) -> None:
    for headers in ({"Host": "abc123.gradio.live"}, {"X-Forwarded-For": "203.0.113.9"}):
        answer = get(studio, "/control", {"command": "exit"}, headers=headers)
        assert answer.status_code == 403
    answer = get(studio, "/control")
    assert (answer.status_code, answer.json()) == (400, {"message": "command is required"})
    answer = get(studio, "/control", {"command": "reboot"})
    assert answer.status_code == 400


def test_docs_list_the_api(studio: Studio) -> None:
    paths = get(studio, "/openapi.json").json()["paths"]
    assert {"/tts", "/set_gpt_weights", "/set_refer_audio", "/control", "/v1/audio/speech"} <= set(paths)
    assert not any(path.startswith("/gradio_api") for path in paths)
    assert get(studio, "/docs").status_code == 200


def test_concurrent_requests_in_two_voices_and_a_batch_equal_each_alone(studio: Studio) -> None:
    requests = [(VOICE_A, TEXT, 11), (VOICE_B, TEXT, 11), (VOICE_A, TEXT, 12), (VOICE_B, TEXT, 12)]
    requests += requests[:2]  # the same request twice at once, too
    # A batch in voice B is queued beside them (as the Synthesize tab queues one): its lines read alone too.
    lines = ["第一行，来读一下。", TEXT, "第三行。"]
    lines_path = studio.workspace / "uploads" / "batch_lines.txt"
    lines_path.write_text("\n".join(lines), encoding="utf-8")
    batch_voice = library_job(studio, VOICE_B, seed=13)
    batch = BatchSynthesisJob(
        batch_voice.request,
        batch_voice.gpt_path,
        batch_voice.sovits_path,
        str(lines_path),
        interface="api",
        consent=CONSENT_STATEMENT,
    )

    def call(item):
        voice, text, seed = item
        return httpx.post(studio.url + "/tts", json=params(voice, text, seed=seed), timeout=TIMEOUT_S)

    queue = JobQueue.open(Workspace.open(studio.workspace))
    with ThreadPoolExecutor(len(requests)) as pool:
        answered = pool.map(call, requests)
        batch_id = queue.submit(batch).id
        answers = list(answered)
    for (voice, text, seed), answer in zip(requests, answers, strict=True):
        assert answer.status_code == 200, answer.text
        np.testing.assert_array_equal(wav(answer.content), library(studio, voice, text, seed=seed))
    batch_done = queue.wait(batch_id, timeout=600)
    assert batch_done.state is JobState.DONE, batch_done.error
    for line, path in zip(lines, batch_done.result.files, strict=True):
        np.testing.assert_array_equal(read_audio(path), library(studio, VOICE_B, line, seed=13))
    records = [queue.get(answer.headers["X-Timbre-Job"]) for answer in answers]
    assert peak_overlap(holds([*records, batch_done])) <= 1  # one model run on the device at a time


def test_openai_client_reads_in_a_saved_voice(studio: Studio) -> None:
    openai = pytest.importorskip("openai")
    clip = (studio.workspace / "uploads" / "a.wav").read_bytes()
    created = httpx.post(
        studio.url + "/v1/audio/voices",
        data={
            "name": "anna",
            "text": PROMPT_TEXT,
            "language": "zh",
            "gpt_weights_path": VOICE_A["gpt_weights_path"],
            "sovits_weights_path": VOICE_A["sovits_weights_path"],
            "consent": "I agree",
        },
        files={"file": ("anna.wav", clip, "audio/wav")},
        timeout=TIMEOUT_S,
    )
    assert created.status_code == 201, created.text
    assert [v["id"] for v in httpx.get(studio.url + "/v1/audio/voices").json()["data"]] == ["anna"]
    client = openai.OpenAI(base_url=studio.url + "/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["timbre"]
    extra = {"seed": 11, "max_sec": 0.6, "text_lang": "zh", "text_split_method": "cut5"}
    expected = library(studio, A_CLIP)  # the same clip, transcript and base weights
    pcm = client.audio.speech.create(
        model="tts-1", voice="anna", input=TEXT, response_format="pcm", extra_body=extra
    )
    np.testing.assert_array_equal(np.frombuffer(pcm.content, dtype="<i2"), expected)
    with client.audio.speech.with_streaming_response.create(
        model="timbre", voice="anna", input=TEXT, response_format="wav", extra_body=extra
    ) as streamed:
        np.testing.assert_array_equal(wav(b"".join(streamed.iter_bytes())), expected)
    # Chunked streaming (api_v2's modes 2 and 3, as extra fields): greedy T2S and noise-free SoVITS make the
    # chunks add up to the whole reading's length (see the api_v2 chunk test for why).
    exact = {**extra, "top_k": 1, "noise_scale": 0}
    whole = np.frombuffer(
        client.audio.speech.create(
            model="tts-1", voice="anna", input=TEXT, response_format="pcm", extra_body=exact
        ).content,
        dtype="<i2",
    )
    chunked = {**exact, "streaming_mode": 3, "min_chunk_length": 4, "overlap_length": 1}
    with client.audio.speech.with_streaming_response.create(
        model="timbre", voice="anna", input=TEXT, response_format="pcm", extra_body=chunked
    ) as streamed:
        chunks = np.frombuffer(b"".join(streamed.iter_bytes()), dtype="<i2").astype(np.float64)
    assert len(chunks) == len(whole)
    error = np.sum((chunks - whole) ** 2)
    assert 0 < error and 10 * np.log10(np.sum(whole.astype(np.float64) ** 2) / error) > 25  # chunked; close
    mp3 = client.audio.speech.create(model="tts-1", voice="anna", input=TEXT, extra_body=extra)
    assert abs(len(ffmpeg_decode(mp3.content)) - len(expected)) <= 2304  # encoder delay and padding
    with pytest.raises(openai.BadRequestError, match="not saved"):
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    with pytest.raises(openai.BadRequestError, match="bogus is not a parameter"):
        client.audio.speech.create(model="tts-1", voice="anna", input=TEXT, extra_body={"bogus": 1})
    deleted = httpx.delete(studio.url + "/v1/audio/voices/anna")
    assert deleted.json() == {"id": "anna", "object": "voice", "deleted": True}
    assert httpx.get(studio.url + "/v1/audio/voices/anna").status_code == 404


@pytest.mark.parametrize(
    ("form", "content", "message"),
    [
        ({"name": "empty"}, b"", "file is empty"),
        ({"name": "junk"}, b"not audio at all" * 64, "not audio"),
        ({"name": "long"}, "12s", "a reference clip must be 3-10 s"),
        ({"name": "../evil"}, "clip", "voice name '../evil' is not allowed"),
        (
            {"name": "w", "gpt_weights_path": "/etc/passwd"},
            "clip",
            "gpt_weights_path '/etc/passwd' is outside",
        ),
        ({"name": "w", "sovits_weights_path": "../s.pth"}, "clip", "is refused"),
        ({"name": "w", "language": "ko"}, "clip", "language 'ko' is not supported"),
    ],
)
def test_bad_voice_uploads_get_clear_errors(studio: Studio, form, content, message) -> None:
    if content == "clip":
        content = (studio.workspace / "uploads" / "a.wav").read_bytes()
    elif content == "12s":
        buffer = io.BytesIO()
        sf.write(buffer, np.full(12 * 16000, 1000, dtype=np.int16), 16000, format="WAV")
        content = buffer.getvalue()
    answer = httpx.post(
        studio.url + "/v1/audio/voices", data=form, files={"file": ("x.wav", content)}, timeout=TIMEOUT_S
    )
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]


def test_set_routes_refuse_files_that_are_not_what_they_should_hold(studio: Studio) -> None:
    weights = studio.workspace / "weights"
    (weights / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    shutil.copy(weights / "tiny_v2_e1_s1.pth", weights / "sovits_named_gpt.ckpt")
    shutil.copy(weights / "tiny_v2-e1.ckpt", weights / "gpt_named_sovits.pth")
    sf.write(studio.workspace / "uploads" / "short.wav", np.zeros(1600, dtype=np.float32) + 0.1, 16000)
    for route, key, value, why in (
        ("/set_gpt_weights", "weights_path", "weights/random.ckpt", "not a GPT-SoVITS GPT file"),
        ("/set_gpt_weights", "weights_path", "weights/sovits_named_gpt.ckpt", "load it in the SoVITS slot"),
        ("/set_sovits_weights", "weights_path", "weights/gpt_named_sovits.pth", "load it in the GPT slot"),
        ("/set_refer_audio", "refer_audio_path", "uploads/short.wav", "must be 3-10 s"),
    ):
        answer = get(studio, route, {key: value})  # refused when set, as the reference does, not at /tts
        assert answer.status_code == 400, answer.text
        assert why in answer.json()["Exception"], answer.text
        os.remove(studio.workspace / value)


def _save_voice(studio: Studio, name: str) -> None:
    created = httpx.post(
        studio.url + "/v1/audio/voices",
        data={"name": name, "text": PROMPT_TEXT, "language": "zh", "consent": "I agree"},
        files={"file": ("v.wav", (studio.workspace / "uploads" / "a.wav").read_bytes(), "audio/wav")},
        timeout=TIMEOUT_S,
    )
    assert created.status_code == 201, created.text


def test_saving_a_voice_under_a_taken_name_keeps_the_saved_one(studio: Studio) -> None:
    def post(text: str, **extra: str) -> httpx.Response:
        form = {"name": "bea", "text": text, "language": "zh", "consent": "I agree", **extra}
        clip = (studio.workspace / "uploads" / "a.wav").read_bytes()
        files = {"file": ("v.wav", clip, "audio/wav")}
        return httpx.post(studio.url + "/v1/audio/voices", data=form, files=files, timeout=TIMEOUT_S)

    assert post("第一次。").status_code == 201
    clash = post("第二次。")
    assert clash.status_code == 409 and "already saved" in clash.json()["error"]["message"]
    assert get(studio, "/v1/audio/voices/bea").json()["text"] == "第一次。"
    assert post("第二次。", overwrite="true").status_code == 201
    assert get(studio, "/v1/audio/voices/bea").json()["text"] == "第二次。"
    assert httpx.delete(studio.url + "/v1/audio/voices/bea", timeout=TIMEOUT_S).status_code == 200


def _zip_entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _import(studio: Studio, data: bytes, **form) -> httpx.Response:
    files = {"file": ("bea.timbre-voice.zip", data, "application/zip")}
    return httpx.post(studio.url + "/v1/audio/voices/import", data=form, files=files, timeout=TIMEOUT_S)


def test_a_voice_travels_as_one_file_through_the_api(studio: Studio) -> None:
    _save_voice(studio, "bea")
    exported = get(studio, "/v1/audio/voices/bea/export")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/zip"
    assert "bea.timbre-voice.zip" in exported.headers["content-disposition"]
    # The Synthesize tab's export (the same core function) holds the same entries.
    roots = (studio.workspace, studio.pretrained)
    tab_file = export_voice(VoiceStore(Workspace.open(studio.workspace)).get("bea"), roots)
    assert _zip_entries(exported.content) == _zip_entries(tab_file)
    clash = _import(studio, exported.content)
    assert clash.status_code == 409 and "overwrite=true" in clash.json()["error"]["message"]
    renamed = _import(studio, exported.content, name="bea_2")
    assert renamed.status_code == 201, renamed.text
    original = get(studio, "/v1/audio/voices/bea").json()
    assert {**renamed.json(), "id": "bea", "name": "bea"} == original
    assert _import(studio, exported.content, overwrite="true").status_code == 201
    assert get(studio, "/v1/audio/voices/nobody/export").status_code == 404
    for name in ("bea", "bea_2"):
        assert httpx.delete(f"{studio.url}/v1/audio/voices/{name}").status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"", 400, "file is empty"),
        (b"hello, not a zip", 400, "not a zip archive"),
        ({"../voice.json": b"{}", "clip.wav": b"RIFF"}, 400, "no folders"),
        ({"/etc/voice.json": b"{}", "clip.wav": b"RIFF"}, 400, "no folders"),
        ({"voice.json": b"{not json", "clip.wav": b"RIFF"}, 400, "not valid JSON"),
        ("weights outside", 400, "outside the allowed folders"),
        ("clip too long", 400, "a reference clip must be 3-10 s"),
    ],
)
def test_bad_voice_files_are_refused(studio: Studio, content, status, message) -> None:
    if isinstance(content, str):  # a real export, altered
        _save_voice(studio, "cid")
        entries = _zip_entries(get(studio, "/v1/audio/voices/cid/export").content)
        httpx.delete(studio.url + "/v1/audio/voices/cid")
        if content == "weights outside":
            record = json.loads(entries["voice.json"])
            entries["voice.json"] = json.dumps({**record, "gpt_path": "weights/link.ckpt"}).encode()
            link = studio.workspace / "weights" / "link.ckpt"
            link.unlink(missing_ok=True)
            link.symlink_to(studio.pretrained.parent / "weights" / "tiny_v2-e1.ckpt")  # out of both roots
        else:
            buffer = io.BytesIO()
            sf.write(buffer, np.full(12 * 16000, 1000, dtype=np.int16), 16000, format="WAV")
            entries["clip.wav"] = buffer.getvalue()
        content = _zip(entries)
    elif isinstance(content, dict):
        content = _zip(content)
    answer = _import(studio, content)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]
    assert str(studio.workspace) not in answer.text  # the server's folders are not spelled out
    assert "cid" not in [v["id"] for v in get(studio, "/v1/audio/voices").json()["data"]]


def test_the_upload_and_extra_clip_limits_are_the_studios_settings(studio: Studio) -> None:
    big = b"\0" * int(MAX_UPLOAD_MB * 2**20 + 1)
    answer = httpx.post(
        studio.url + "/v1/audio/voices",
        data={"name": "big", "consent": "true"},
        files={"file": ("big.wav", big)},
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 413
    assert "upload limit of 1.5 MB (set with --max-upload-mb)" in answer.json()["error"]["message"]
    answer = _import(studio, big)
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["error"]["message"]
    # The studio's own upload route (Gradio) has the same limit.
    answer = httpx.post(
        studio.url + "/gradio_api/upload", files={"files": ("big.wav", big)}, timeout=TIMEOUT_S
    )
    assert answer.status_code == 413
    answer = get(studio, "/tts", params(VOICE_A, aux_ref_audio_paths=["uploads/b.wav"]))
    assert answer.status_code == 400
    assert "at most 4 s (the studio's limit, set with --max-aux-seconds)" in answer.json()["message"]


def test_limit_flags_become_settings() -> None:
    from app import parse_settings

    settings = parse_settings(["--max-upload-mb", "5", "--max-aux-seconds", "12.5"])
    assert (settings.max_upload_bytes, settings.max_aux_ref_seconds) == (5 * 2**20, 12.5)
    assert (parse_settings([]).max_upload_mb, parse_settings([]).max_aux_ref_seconds) == (20.0, 30.0)
    for bad in (["--max-upload-mb", "0"], ["--max-aux-seconds", "-1"], ["--max-upload-mb", "lots"]):
        with pytest.raises(SystemExit):
            parse_settings(bad)


def test_with_auth_every_route_asks_for_a_login(conformance_dir: Path, tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    workspace = tmp_path / "ws"
    auth_file = tmp_path / "users.txt"
    auth_file.write_text("# collaborators\nbob:hunter2\n", encoding="utf-8")
    pretrained = conformance_dir / "models" / "pretrained"
    extra = ["--auth", "alice:s3cret", "--auth-file", str(auth_file)]
    with running_studio(workspace, pretrained, extra_args=extra) as running:
        url = running.url.rstrip("/")
        for route in ("/tts", "/set_refer_audio", "/control", "/v1/models", "/v1/audio/voices"):
            answer = httpx.get(url + route)
            assert answer.status_code == 401, route
            assert answer.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url + "/v1/audio/voices/anna/export").status_code == 401
        assert httpx.post(url + "/v1/audio/voices/import", files={"file": b"x"}).status_code == 401
        assert "error" in httpx.get(url + "/v1/models").json()  # OpenAI's shape on its routes
        assert httpx.get(url + "/tts", auth=("alice", "wrong")).status_code == 401
        # Logged in, the request reaches the checks (no text: the reference's 400).
        for auth in (("alice", "s3cret"), ("bob", "hunter2")):
            assert httpx.get(url + "/tts", auth=auth).json() == {"message": "ref_audio_path is required"}
        bearer = {"Authorization": "Bearer hunter2"}
        assert httpx.get(url + "/tts", headers=bearer).status_code == 400
        # A logged-in caller may use /control even through the share link.
        answer = httpx.get(url + "/control", headers={**bearer, "Host": "abc.gradio.live"})
        assert answer.json() == {"message": "command is required"}
        client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret")
        assert [m.id for m in client.models.list()] == ["timbre"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="nope").models.list()
        assert httpx.get(url + "/config").status_code == 401  # the UI asks for its login too
        assert "share link" not in running.log_path.read_text()  # no warning: a login is asked


# The README's curl examples, run as written ($URL is the studio; the clip and weights are the fixtures').
CURL_EXAMPLES = [
    "curl -f -o hello.wav -G $URL/tts --data-urlencode 'text=欢迎来到音色工作室。' -d text_lang=zh "
    "-d ref_audio_path=uploads/a.wav --data-urlencode 'prompt_text=这是一段用于测试的参考音频。' "
    "-d prompt_lang=zh -d max_sec=0.6",
    "curl -f -o hello.ogg $URL/tts -H 'Content-Type: application/json' "
    """-d '{"text": "欢迎来到音色工作室。", "text_lang": "zh", "ref_audio_path": "uploads/a.wav", """
    """"prompt_text": "这是一段用于测试的参考音频。", "prompt_lang": "zh", "media_type": "ogg", """
    """"pitch": 2, "seed": 7, "max_sec": 0.6}'""",
    "curl -fN -o stream.wav -G $URL/tts --data-urlencode 'text=你好，我们来听听。' -d text_lang=zh "
    "-d ref_audio_path=uploads/a.wav -d prompt_lang=zh -d streaming_mode=1 -d max_sec=0.6",
    "curl -f '$URL/set_gpt_weights?weights_path=weights/tiny_v2-e1.ckpt'",
    "curl -f '$URL/set_sovits_weights?weights_path=weights/tiny_v2_e1_s1.pth'",
    "curl -f '$URL/set_refer_audio?refer_audio_path=uploads/b.wav'",
    "curl -f $URL/v1/audio/voices -F name=anna -F file=@my_voice.wav -F 'text=这是一段用于测试的参考音频。' "
    "-F language=zh -F 'consent=I recorded this voice myself'",
    "curl -f $URL/v1/audio/voices",
    "curl -f -o hello.mp3 $URL/v1/audio/speech -H 'Content-Type: application/json' "
    """-d '{"model": "timbre", "voice": "anna", "input": "欢迎来到音色工作室。", "max_sec": 0.6}'""",
    "curl -f -o anna.timbre-voice.zip $URL/v1/audio/voices/anna/export",
    "curl -f $URL/v1/audio/voices/import -F file=@anna.timbre-voice.zip -F name=anna_copy",
    "curl -f $URL/v1/models",
    "curl -f -X DELETE $URL/v1/audio/voices/anna",
    "curl -f -X DELETE $URL/v1/audio/voices/anna_copy",
]


def test_readme_curl_examples_work(studio: Studio, tmp_path: Path) -> None:
    shutil.copy(studio.workspace / "uploads" / "a.wav", tmp_path / "my_voice.wav")
    for example in CURL_EXAMPLES:
        command = example.replace("$URL", studio.url)
        done = subprocess.run(["bash", "-c", command + " -sS"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, (example, done.stderr)
    for name in ("hello.wav", "stream.wav"):
        assert len(wav((tmp_path / name).read_bytes())) > 0
    assert len(ffmpeg_decode((tmp_path / "hello.ogg").read_bytes())) > 0
    assert len(ffmpeg_decode((tmp_path / "hello.mp3").read_bytes())) > 0


def test_credentials_are_checked_in_every_accepted_form() -> None:
    users = {"alice": "s3cret", "bob": "hunter2"}
    basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert check_credentials(basic, users) == "alice"
    assert check_credentials("Bearer hunter2", users) == "bob"
    assert check_credentials("Bearer bob:hunter2", users) == "bob"
    for wrong in (
        "",
        "Basic !!!",
        "Basic " + base64.b64encode(b"alice:nope").decode(),
        "Bearer s3cre",
        "Digest x",
    ):
        assert check_credentials(wrong, users) is None


def test_malformed_auth_entries_are_refused(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("# team\n\ncarol:pw\n", encoding="utf-8")
    assert read_credentials(["alice:a:b"], users) == (("alice", "a:b"), ("carol", "pw"))
    for bad in (["alice"], ["alice:"], [":pw"]):
        with pytest.raises(SettingsError, match="USER:PASSWORD"):
            read_credentials(bad)
    with pytest.raises(SettingsError, match="cannot read"):
        read_credentials([], tmp_path / "missing.txt")
