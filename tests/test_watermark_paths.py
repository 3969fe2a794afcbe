"""Every generation path marks what it returns and logs it: api_v2 (whole and streamed), the OpenAI route
(whole and streamed), the Synthesize tab's handler, batches and the CLI. For each, the mark is detected in
exactly what the path returned and its usage-log line is found by the payload. Also: consent per voice,
foreign marks, a broken marker and an unwritable log stop generation, and `--no-watermark` is logged."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
import soundfile as sf

from core import ethics
from core.api import ApiError, StudioApi
from core.api_openai import API_CONSENT
from core.cli import main
from core.errors import WatermarkError, WorkspaceError
from core.ethics import ConsentStore, InstallKey, Payload, ResponsibleUse, embed, sign, start_marking
from core.ethics.lookup import check_file, export_usage, search_usage
from core.ethics.usage_log import read_usage, sha256_file
from core.ethics.watermark import self_check_signal
from core.jobs import JobQueue, JobState, ModelCache, Worker
from core.output import deliver_to_workspace
from core.settings import Settings
from core.voices import UI_CONSENT
from core.workspace import Workspace
from tests.browser import running_studio
from tests.jobs_fixtures import PROMPT_TEXT, voices
from webui.context import StudioContext
from webui.detect import check_files
from webui.synthesize import KNOB_NAMES, Voice, submit, submit_batch

# Three fragments of up to 1.5 s: about 3-4.5 s of audio from the tiny models, enough for the full payload.
TEXT = "你好，我们来听听。这是第二句话，再听听。第三句话也在这里。"
KNOBS = {"seed": 11, "max_sec": 1.5}
STATEMENT = "The fixtures' speakers consented to these tests"
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Studio:
    url: str
    workspace: Path
    pretrained: Path
    gpt: str
    sovits: str
    clip: str


@pytest.fixture(scope="module")
def studio(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    workspace = (tmp_path_factory.mktemp("marked") / "ws").resolve()
    voice, _ = voices(conformance_dir, workspace)
    pretrained = conformance_dir / "models" / "pretrained"
    with running_studio(workspace, pretrained, extra_args=["--consent-statement", STATEMENT]) as running:
        yield Studio(running.url.rstrip("/"), workspace, pretrained, voice.gpt, voice.sovits, voice.clip)


def logged_generation(audio: np.ndarray, sr: int, workspace: Path) -> dict:
    """The one usage-log line of the generation whose mark `audio` carries (asserting the mark is there,
    readable and this install's)."""
    found = ethics.detect(audio, sr, [ethics.load_install_key(workspace)])
    assert found.detected and found.payload is not None, found
    assert found.signed_by_this_install is True
    lines = ethics.find_generation(workspace, found.payload)
    assert len(lines) == 1, lines
    assert lines[0]["watermark"] == "on"
    return lines[0]


def assert_provenance(line: dict, studio: Studio, text: str = TEXT) -> None:
    assert line["text"] == text
    assert line["reference_sha256"] == sha256_file(studio.clip)
    assert line["models"] == {"gpt": sha256_file(studio.gpt), "sovits": sha256_file(studio.sovits)}


def tts_params(studio: Studio, **overrides) -> dict:
    base = {
        "text": TEXT,
        "text_lang": "zh",
        "ref_audio_path": "uploads/a.wav",
        "prompt_text": PROMPT_TEXT,
        "prompt_lang": "zh",
        "gpt_weights_path": str(Path(studio.gpt).relative_to(studio.pretrained)),
        "sovits_weights_path": str(Path(studio.sovits).relative_to(studio.pretrained)),
        **KNOBS,
    }
    return {**base, **overrides}


# ----------------------------------------------------------------------------------------------------
# HTTP: api_v2 and the OpenAI route, whole and streamed


def test_api_v2_whole_file_is_marked_and_logged_with_the_operator_consent_statement(studio: Studio) -> None:
    answer = httpx.get(studio.url + "/tts", params=tts_params(studio), timeout=TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    audio, sr = sf.read(io.BytesIO(answer.content), dtype="int16")
    line = logged_generation(audio, sr, studio.workspace)
    assert line["interface"] == "api" and line["extra"] == {"consent": STATEMENT}
    assert_provenance(line, studio)
    assert line["output_sha256"] == sha256_file(studio.workspace / line["output"])
    assert np.array_equal(sf.read(studio.workspace / line["output"], dtype="int16")[0], audio)


@pytest.mark.parametrize(("mode", "media_type"), [(1, "wav"), (3, "raw")])
def test_api_v2_streams_are_marked_as_they_are_sent_and_logged_first(
    studio: Studio, mode: int, media_type: str
) -> None:
    params = tts_params(studio, streaming_mode=mode, media_type=media_type)
    with httpx.stream("GET", studio.url + "/tts", params=params, timeout=TIMEOUT_S) as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    if media_type == "wav":
        audio, sr = sf.read(io.BytesIO(body), dtype="int16")
    else:
        audio, sr = np.frombuffer(body, dtype="<i2"), 32000
    line = logged_generation(audio, sr, studio.workspace)
    assert line["interface"] == "api" and line["extra"] == {"consent": STATEMENT, "stream": True}
    assert_provenance(line, studio)
    # the whole stream is kept as sent: the file the line names holds exactly the streamed samples
    assert np.array_equal(sf.read(studio.workspace / line["output"], dtype="int16")[0], audio)


def test_openai_voice_needs_consent_and_its_speech_is_marked_whole_and_streamed(studio: Studio) -> None:
    form = {
        "name": "anna",
        "text": PROMPT_TEXT,
        "language": "zh",
        "gpt_weights_path": tts_params(studio)["gpt_weights_path"],
        "sovits_weights_path": tts_params(studio)["sovits_weights_path"],
    }
    other_clip = studio.workspace / "uploads" / "b.wav"  # not a.wav: the api_v2 tests need it unconfirmed
    clip = ("anna.wav", other_clip.read_bytes(), "audio/wav")
    refused = httpx.post(studio.url + "/v1/audio/voices", data=form, files={"file": clip}, timeout=TIMEOUT_S)
    assert refused.status_code == 400 and "consent=true" in refused.json()["error"]["message"]
    created = httpx.post(
        studio.url + "/v1/audio/voices",
        data={**form, "consent": "true"},
        files={"file": clip},
        timeout=TIMEOUT_S,
    )
    assert created.status_code == 201, created.text
    speech = {"model": "timbre", "voice": "anna", "input": TEXT, "text_lang": "zh", **KNOBS}
    for fmt, streamed in (("flac", False), ("wav", True)):
        answer = httpx.post(
            studio.url + "/v1/audio/speech", json={**speech, "response_format": fmt}, timeout=TIMEOUT_S
        )
        assert answer.status_code == 200, answer.text
        audio, sr = sf.read(io.BytesIO(answer.content), dtype="int16")
        line = logged_generation(audio, sr, studio.workspace)
        assert line["interface"] == "api" and line["extra"].get("consent") == API_CONSENT
        assert line["extra"].get("stream", False) is streamed
        assert line["reference_sha256"] == sha256_file(other_clip)


def test_api_v2_refuses_a_clip_nobody_consented_to_unless_the_operator_gave_a_statement(
    tmp_path: Path, conformance_dir: Path
) -> None:
    workspace = Workspace.open(tmp_path / "ws")
    voice, _ = voices(conformance_dir, workspace.root)
    settings = Settings(workspace=workspace.root, pretrained_dir=conformance_dir / "models" / "pretrained")
    queue = JobQueue.open(workspace)
    with pytest.raises(ApiError, match="--consent-statement") as refused:
        StudioApi(settings, workspace, queue).consent_for((Path(voice.clip),))
    assert refused.value.status_code == 403
    assert (
        StudioApi(settings, workspace, queue, consent_statement="ok").consent_for((Path(voice.clip),)) == "ok"
    )
    ConsentStore(workspace.root).confirm(voice.clip, "mine", interface="ui")
    assert StudioApi(settings, workspace, queue).consent_for((Path(voice.clip),)) == "mine"


# ----------------------------------------------------------------------------------------------------
# The Synthesize tab's handlers (consent, one file, a batch) and the CLI, in this process


@pytest.fixture()
def studio_ctx(tmp_path: Path, conformance_dir: Path) -> Iterator[tuple[StudioContext, Studio]]:
    pretrained = conformance_dir / "models" / "pretrained"
    ctx = StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained))
    voice, _ = voices(conformance_dir, ctx.workspace.root)
    worker = Worker(ctx.queue, ModelCache(pretrained)).start()
    try:
        yield ctx, Studio("", ctx.workspace.root, pretrained, voice.gpt, voice.sovits, voice.clip)
    finally:
        worker.stop()


def _knobs(**overrides) -> list:
    from core.synthesis import knob_fields

    values = {name: default for name, default, _ in knob_fields()} | KNOBS | overrides
    return [values[name] for name in KNOB_NAMES]


def test_synthesize_tab_asks_consent_once_per_voice_and_its_results_are_marked_and_logged(studio_ctx) -> None:
    ctx, studio = studio_ctx
    voice = Voice(studio.gpt, studio.sovits, studio.clip, None, PROMPT_TEXT, "zh")
    with pytest.raises(gr.Error, match="consent"):
        submit(ctx, voice, TEXT, "zh", _knobs(), "en")
    assert ctx.queue.jobs() == []
    first = submit(ctx, voice, TEXT, "zh", _knobs(), "en", consent=True, user="alice")
    again = submit(ctx, voice, TEXT, "zh", _knobs(seed=12), "en")  # remembered for this clip
    assert ConsentStore(studio.workspace).statement(studio.clip) == UI_CONSENT
    for record, user in ((first, "alice"), (again, None)):
        done = ctx.queue.wait(record.id, timeout=TIMEOUT_S)
        assert done.state is JobState.DONE, done.error
        audio, sr = sf.read(done.result.files[0], dtype="int16")
        line = logged_generation(audio, sr, studio.workspace)
        assert (line["interface"], line["user"], line["extra"]) == ("ui", user, {"consent": UI_CONSENT})
        assert_provenance(line, studio)


def test_a_batch_marks_and_logs_every_line_with_its_own_generation(studio_ctx, tmp_path: Path) -> None:
    ctx, studio = studio_ctx
    ConsentStore(studio.workspace).confirm(studio.clip, UI_CONSENT, interface="ui")
    lines = tmp_path / "lines.txt"
    lines.write_text("你好，我们来听听。这是第二句话。\n第三句话也在这里，再听听。\n", encoding="utf-8")
    voice = Voice(studio.gpt, studio.sovits, studio.clip, None, PROMPT_TEXT, "zh")
    record = submit_batch(ctx, voice, str(lines), "zh", _knobs(), "en")
    done = ctx.queue.wait(record.id, timeout=TIMEOUT_S)
    assert done.state is JobState.DONE and len(done.result.files) == 2, done.error
    found = [logged_generation(*sf.read(path, dtype="int16"), studio.workspace) for path in done.result.files]
    assert [line["text"] for line in found] == [
        "你好，我们来听听。这是第二句话。",
        "第三句话也在这里，再听听。",
    ]
    assert found[0]["generation_id"] != found[1]["generation_id"]


def _cli_argv(studio: Studio, workspace: Path, out: Path) -> list[str]:
    return [
        "tts", "--gpt", studio.gpt, "--sovits", studio.sovits, "--pretrained", str(studio.pretrained),
        "--ref", studio.clip, "--ref-text", PROMPT_TEXT, "--text", TEXT, "--lang", "zh",
        "--seed", "11", "--max-sec", "1.5", "--workspace", str(workspace), "--out", str(out),
    ]  # fmt: skip


def test_cli_marks_and_logs_and_no_watermark_is_logged(conformance_dir: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    voice, _ = voices(conformance_dir, workspace)
    studio = Studio(
        "", workspace, conformance_dir / "models" / "pretrained", voice.gpt, voice.sovits, voice.clip
    )
    assert main(_cli_argv(studio, workspace, tmp_path / "marked.wav")) == 0
    line = logged_generation(*sf.read(tmp_path / "marked.wav", dtype="int16"), workspace)
    assert line["interface"] == "cli" and line["output_sha256"] == sha256_file(tmp_path / "marked.wav")
    assert_provenance(line, studio)

    assert (
        main([*_cli_argv(studio, workspace, tmp_path / "plain.wav"), "--no-watermark", "--private-log"]) == 0
    )
    audio, sr = sf.read(tmp_path / "plain.wav", dtype="int16")
    assert not ethics.detect(audio, sr).detected
    off = read_usage(workspace)[-1]
    assert (
        off["watermark"] == "off"
        and off["generation_id"] is None
        and "--no-watermark" in off["extra"]["watermark_off"]
    )
    assert off["text"] is None and off["text_sha256"] == line["text_sha256"]  # --private-log keeps the hash


# ----------------------------------------------------------------------------------------------------
# Refusals, foreign marks, the Detect tab's logic


def _speech(seconds: float = 3.5, sr: int = 24000) -> np.ndarray:
    return (self_check_signal(sr, seconds) * 32767).astype(np.int16)


def test_a_broken_marker_fails_the_self_check_and_stops_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace.open(tmp_path / "ws")

    def corrupted(audio, sr, payload, key=None, params=None, start_slot=0):  # a marker that lost its mark
        noisy = np.asarray(audio, dtype=np.float64) + np.random.default_rng(0).normal(0, 1e-3, len(audio))
        return noisy.astype(np.asarray(audio).dtype)

    monkeypatch.setattr(ethics.watermark, "embed", corrupted)
    marking = start_marking(workspace.root)
    assert marking.failure is not None and "self-check failed" in marking.failure
    with pytest.raises(WatermarkError, match="generation refused: watermark self-check failed"):
        deliver_to_workspace(workspace, _speech(), 24000, interface="ui")
    assert not workspace.outputs_dir.exists() or list(workspace.outputs_dir.iterdir()) == []
    assert read_usage(workspace.root) == []
    # the operator may still turn marking off explicitly: then generation runs, and says so in the log
    start_marking(workspace.root, ResponsibleUse(watermark=False))
    delivery = deliver_to_workspace(workspace, _speech(), 24000, interface="ui")
    assert delivery.payload is None and read_usage(workspace.root)[-1]["watermark"] == "off"


def test_the_studio_shows_why_generation_is_refused_and_when_the_watermark_is_off(
    tmp_path: Path, conformance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webui.studio import build_studio

    ctx = StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=conformance_dir / "models"))

    def shown(studio: gr.Blocks) -> dict[str, str]:
        return {
            b.elem_id: str(b.value) for b in studio.blocks.values() if str(b.elem_id).startswith("studio-wat")
        }

    assert shown(build_studio(ctx)) == {}  # marking works: nothing to say
    monkeypatch.setattr(ethics.watermark, "embed", lambda audio, *args, **kwargs: np.array(audio, copy=True))
    start_marking(ctx.workspace.root)
    notices = shown(build_studio(ctx))
    assert "studio.watermark_failed" in notices["studio-watermark-failed"]
    assert "embedding left the test signal unchanged" in notices["studio-watermark-reason"]
    start_marking(ctx.workspace.root, ResponsibleUse(watermark=False))
    assert "studio.watermark_off" in shown(build_studio(ctx))["studio-watermark-off"]


def test_the_cli_refuses_with_the_reason_when_the_marker_is_broken(
    conformance_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(ethics.watermark, "embed", lambda audio, *args, **kwargs: np.array(audio, copy=True))
    voice, _ = voices(conformance_dir, tmp_path / "ws")
    studio = Studio(
        "", tmp_path / "ws", conformance_dir / "models" / "pretrained", voice.gpt, voice.sovits, voice.clip
    )
    assert main(_cli_argv(studio, tmp_path / "ws", tmp_path / "out.wav")) == 2
    assert "embedding left the test signal unchanged" in capsys.readouterr().err
    assert not (tmp_path / "out.wav").exists()


def test_an_unwritable_usage_log_fails_the_generation_and_leaves_no_file(tmp_path: Path) -> None:
    workspace = Workspace.open(tmp_path / "ws")
    (workspace.root / "logs" / "usage.jsonl").mkdir(parents=True)  # a folder where the log must be
    with pytest.raises(WorkspaceError, match="generation refused"):
        deliver_to_workspace(workspace, _speech(), 24000, interface="ui")
    assert list(workspace.outputs_dir.iterdir()) == []


def test_detect_tells_this_installs_marks_from_foreign_ones_and_finds_the_log_line(
    tmp_path: Path, conformance_dir: Path
) -> None:
    pretrained = conformance_dir / "models" / "pretrained"
    ctx = StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained))
    ours = deliver_to_workspace(ctx.workspace, _speech(), 24000, interface="ui")
    key = ethics.load_install_key(ctx.workspace.root)
    other = InstallKey((key.install_id + 1) % 65536, b"another install's secret")
    foreign = tmp_path / "foreign.wav"
    sf.write(foreign, embed(_speech(), 24000, sign(other, 42)), 24000, subtype="PCM_16")
    forged = tmp_path / "forged.wav"  # our install id, without our secret
    sf.write(forged, embed(_speech(), 24000, Payload(key.install_id, 43, 0)), 24000, subtype="PCM_16")
    plain = tmp_path / "plain.wav"
    sf.write(plain, _speech(), 24000, subtype="PCM_16")

    checks = {Path(p).name: check_file(p, ctx.workspace.root) for p in (ours.path, foreign, forged, plain)}
    assert checks[ours.path.name].origin == "this install"
    assert checks[ours.path.name].records == [asdict(ours.record)]
    assert (
        checks["foreign.wav"].origin == "foreign"
        and checks["foreign.wav"].detection.payload.install_id == other.install_id
    )
    assert checks["forged.wav"].origin == "foreign" and checks["forged.wav"].records == []
    assert checks["plain.wav"].origin == "none"

    table, entries = check_files(ctx, [str(ours.path), str(foreign)], "en")
    assert table["data"][0][1] == "detected" and "this install" in table["data"][0][3]
    assert table["data"][0][4] == str(ours.payload.generation_id) and ours.path.name in table["data"][0][5]
    assert "another install" in table["data"][1][3] and table["data"][1][5] == "no line in this usage log"
    assert entries == [asdict(ours.record)]


def test_the_usage_log_is_searched_and_exported_as_csv_and_jsonl(tmp_path: Path) -> None:
    import csv
    import json

    workspace = Workspace.open(tmp_path / "ws")
    for _ in range(2):
        deliver_to_workspace(workspace, _speech(), 24000, interface="cli")
    deliver_to_workspace(workspace, _speech(), 24000, interface="batch")
    records = read_usage(workspace.root)
    assert [r["interface"] for r in search_usage(records, "BATCH")] == ["batch"]
    assert len(search_usage(records, "")) == 3
    rows = list(csv.DictReader(io.StringIO(export_usage(records, "csv").decode())))
    assert [int(r["generation_id"]) for r in rows] == [r["generation_id"] for r in records]
    lines = export_usage(records, "jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == records
