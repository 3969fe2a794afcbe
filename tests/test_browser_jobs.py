"""The studio as a process with its queue, in a real browser: pitch and speed, several sessions at once beside
direct submissions and a batch, and the Jobs tab (progress, cancel, retry)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.ethics import ResponsibleUse, start_marking
from core.jobs import BatchSynthesisJob, JobContext, JobQueue, JobState, ModelCache, SynthesisJob
from core.jobs import synthesis as synthesis_kind
from core.settings import DEFAULT_PRECISION, check_precision
from core.synthesis import SynthesisRequest, Synthesizer
from core.workspace import Workspace
from tests.browser import chromium, running_studio
from tests.jobs_fixtures import LINES, PROMPT_TEXT, holds, peak_overlap, read_audio, request, voices

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pretrained_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, conformance_dir: Path) -> Workspace:
    workspace = Workspace.open(tmp_path_factory.mktemp("studio") / "workspace")
    workspace.weights_dir.mkdir(parents=True)
    for name in ("tiny_v2-e1.ckpt", "tiny_v2_e1_s1.pth"):  # a fine-tuned voice, listed as "workspace: ..."
        shutil.copy(conformance_dir / "models" / "weights" / name, workspace.weights_dir / name)
    # UI results are compared with the same requests run here (model numerics): unmarked on both sides.
    start_marking(workspace.root, ResponsibleUse(watermark=False))
    return workspace


@pytest.fixture(scope="module")
def studio_url(workspace: Workspace, pretrained_dir: Path):
    with running_studio(workspace.root, pretrained_dir, extra_args=["--no-watermark"]) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser(studio_url):
    with chromium() as browser:
        yield browser


def _new_page(browser, url: str):
    page = browser.new_context(locale="en-US").new_page()  # a context each: separate browser sessions
    page.goto(url)
    return page


def _set(page, elem_id: str, value, selector: str = "input") -> None:
    box = page.locator(f"#{elem_id} {selector}").first
    box.fill(str(value))
    box.press("Enter")


def _fill_voice(page, gpt_label: str, sovits_label: str, clip: Path, text: str, **knobs) -> None:
    page.get_by_role("tab", name="Synthesize").click()
    _set(page, "synth-gpt", gpt_label)
    _set(page, "synth-sovits", sovits_label)
    page.locator("#synth-ref input[type=file]").set_input_files(str(clip))
    page.locator("#synth-ref-text textarea").fill(PROMPT_TEXT)
    page.locator("#synth-text textarea").fill(text)
    page.locator("#synth-consent input").check()  # asked once per voice; ticking it again does no harm
    page.locator("#synth-sampling").get_by_text("Sampling").click()
    for name, value in knobs.items():
        _set(page, "synth-" + name.replace("_", "-"), value, "input[type=number]")


def _labels(pretrained_dir: Path) -> dict[str, tuple[str, str]]:
    base = pretrained_dir / "gsv-v2final-pretrained"
    return {
        "a": (
            f"pretrained: {next(base.glob('*.ckpt')).relative_to(pretrained_dir)}",
            f"pretrained: {next(base.glob('*.pth')).relative_to(pretrained_dir)}",
        ),
        "b": ("workspace: tiny_v2-e1.ckpt", "workspace: tiny_v2_e1_s1.pth"),
    }


def test_pitch_and_speed_from_the_ui_give_the_librarys_audio(browser, studio_url, workspace, pretrained_dir):
    a, _ = voices(pretrained_dir.parent.parent, workspace.root)
    page = _new_page(browser, studio_url)
    gpt_label, sovits_label = _labels(pretrained_dir)["a"]
    _fill_voice(page, gpt_label, sovits_label, Path(a.clip), "欢迎来到音色工作室。", seed=21, max_sec=1)
    _set(page, "synth-pitch", 4, "input[type=number]")
    _set(page, "synth-speed-factor", 1.25, "input[type=number]")
    page.locator("#synth-generate").click()
    expect(page.locator("#synth-status")).to_contain_text("Done", timeout=120_000)

    record = next(r for r in JobQueue.open(workspace).jobs() if r.kind == "synthesis")
    assert record.params.request.pitch == 4.0 and record.params.request.speed_factor == 1.25
    # the studio runs in the default precision (`auto`): the library, loaded the same way, reads the same
    studio_precision = check_precision(DEFAULT_PRECISION)
    expected_sr, expected = Synthesizer.from_files(
        a.gpt, a.sovits, pretrained_dir, precision=studio_precision
    ).synthesize(
        SynthesisRequest(
            text="欢迎来到音色工作室。",
            text_lang="zh",
            ref_audio_path=a.clip,
            prompt_text=PROMPT_TEXT,
            prompt_lang="zh",
            seed=21,
            max_sec=1.0,
            pitch=4.0,
            speed_factor=1.25,
        )
    )
    audio, sr = sf.read(record.result.files[0], dtype="int16")
    assert sr == expected_sr and np.array_equal(audio, expected)
    page.close()


@pytest.mark.slow
def test_browser_sessions_direct_submissions_and_a_batch_share_one_device(
    browser, studio_url, workspace, pretrained_dir, conformance_dir
):
    a, b = voices(conformance_dir, workspace.root)
    queue = JobQueue.open(workspace)
    lines = workspace.uploads_dir / "fifty.txt"
    lines.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    batch = queue.submit(BatchSynthesisJob(request(a), a.gpt, a.sovits, str(lines)))

    labels = _labels(pretrained_dir)
    pages = [_new_page(browser, studio_url) for _ in range(3)]
    for i, (page, name, voice) in enumerate(zip(pages, "aba", (a, b, a), strict=True)):
        _fill_voice(page, *labels[name], Path(voice.clip), f"第{i}位用户的请求。", seed=40 + i, max_sec=0.6)
    direct = [
        queue.submit(SynthesisJob(request(v, text=f"直接提交的第{i}个请求。", seed=60 + i), v.gpt, v.sovits))
        for i, v in enumerate((b, a, b))
    ]
    for page in pages:  # Playwright is driven from this thread: the three clicks follow each other closely
        page.locator("#synth-generate").click()
    for page in pages:
        expect(page.locator("#synth-status")).to_contain_text("Done", timeout=300_000)
    records = [queue.wait(job.id, timeout=300) for job in direct]
    batch = queue.wait(batch.id, timeout=600)
    from_ui = [r for r in queue.jobs() if r.kind == "synthesis" and r.params.interface == "ui" and r.id]
    from_ui = [r for r in from_ui if r.params.request.text.endswith("位用户的请求。")]

    assert len(from_ui) == 3 and all(r.state is JobState.DONE for r in [*from_ui, *records, batch])
    assert len(batch.result.files) == 50
    assert peak_overlap(holds([*from_ui, *records, batch])) == 1  # --gpu-jobs 1
    alone = ModelCache(pretrained_dir)
    for record in [*from_ui, *records]:
        result = synthesis_kind.run(record.params, JobContext.standalone(workspace, alone))
        assert np.array_equal(read_audio(record.result.files[0]), read_audio(result.files[0]))
    for page in pages:
        page.close()


def _row(page, job_id: str):
    return page.locator(f"#jobs-list tr[data-job='{job_id}']")


def test_jobs_tab_shows_a_batchs_progress_and_cancels_and_retries_it(
    browser, studio_url, workspace, pretrained_dir
):
    page = _new_page(browser, studio_url)
    gpt_label, sovits_label = _labels(pretrained_dir)["a"]
    a, _ = voices(pretrained_dir.parent.parent, workspace.root)
    _fill_voice(page, gpt_label, sovits_label, Path(a.clip), "unused", seed=5)
    lines = workspace.root.parent / "lines.txt"
    lines.write_text("\n".join(LINES[:30]) + "\n", encoding="utf-8")
    page.get_by_role("button", name="Batch: read every line").click()
    page.locator("#synth-lines input[type=file]").set_input_files(str(lines))
    page.locator("#synth-queue-batch").click()
    expect(page.locator("#synth-batch-status")).to_contain_text("Queued as job", timeout=30_000)
    job_id = page.locator("#synth-batch-status").inner_text().split("job ")[1].split(";")[0].strip()

    page.get_by_role("tab", name="Jobs").click()
    expect(_row(page, job_id)).to_have_attribute("data-state", "running", timeout=60_000)
    progress = _row(page, job_id).locator("progress")
    page.wait_for_function(
        "(id) => Number(document.querySelector(`#jobs-list tr[data-job='${id}'] progress`).value) > 0",
        arg=job_id,
        timeout=120_000,
    )
    assert int(progress.get_attribute("value")) < 100
    _set(page, "jobs-select", job_id)
    page.locator("#jobs-cancel").click()
    expect(_row(page, job_id)).to_have_attribute("data-state", "cancelled", timeout=60_000)
    expect(page.locator("#jobs-log textarea")).to_have_value(re.compile("cancelled"), timeout=10_000)
    page.locator("#jobs-retry").click()
    expect(_row(page, job_id)).to_have_attribute("data-state", "running", timeout=60_000)
    page.locator("#jobs-cancel").click()  # leave the studio idle for the next test
    expect(_row(page, job_id)).to_have_attribute("data-state", "cancelled", timeout=60_000)
    record = JobQueue.open(workspace).get(job_id)
    assert record.attempts == 2 and any("queued again (retry)" in line for line in record.log)
    page.close()


def test_preview_reads_only_the_start_of_a_long_text(browser, studio_url, workspace, pretrained_dir):
    a, _ = voices(pretrained_dir.parent.parent, workspace.root)
    long_text = "今天天气很好，我们一起去公园散步，看看湖边的花和树，再去博物馆看一看新的展览。" * 3
    page = _new_page(browser, studio_url)
    _fill_voice(page, *_labels(pretrained_dir)["a"], Path(a.clip), long_text, seed=8, max_sec=0.6)
    page.locator("#synth-preview").click()
    expect(page.locator("#synth-status")).to_contain_text("Done", timeout=120_000)
    record = max(JobQueue.open(workspace).jobs(), key=lambda r: r.created_at)
    previewed = record.params.request.text
    assert long_text.startswith(previewed.rstrip("。")) and 20 <= len(previewed) < len(long_text) // 2
    page.close()
