"""Vocal separation (core.data.separate, Demucs): the missing-model path, `pretrained download --separator`
against a local fake Hub, and separation through the real demucs code with a tiny model.

The real HT-Demucs weights cannot be downloaded here (no Hub), so what a real model does to music is not
tested: the tiny model below has random weights, in the layout demucs 4.1 publishes (`<name>.yaml` plus one
`<signature>.safetensors` with the class and arguments in its metadata), and checks the plumbing: the
download, loading, blocks, lengths, rates, and vocals + accompaniment = recording.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import pretrained
from core.cli import main as cli_main
from core.data import separate
from core.data.separate import ACCOMPANIMENT_DIR, VocalSeparator, require_model, separate_file
from core.data.slicer import SLICE_SR
from core.errors import PretrainedMissingError
from core.jobs import JobContext, ModelCache
from core.jobs.dataset_slice import DatasetSliceJob, run
from core.workspace import Workspace
from tests.test_pretrained import FakeHub, _closed_port

_COMMAND = "python -m core pretrained download --separator htdemucs --dir"


def _tiny_demucs_files() -> dict[str, bytes]:
    """The Hub files of `htdemucs`, with a tiny randomly initialised HT-Demucs in place of the real one."""
    import torch
    from demucs.htdemucs import HTDemucs
    from safetensors.torch import save

    # Small and at 8 kHz (the separator resamples to the model's rate): fractions of a second per block.
    kwargs = dict(
        sources=["drums", "bass", "other", "vocals"],
        samplerate=8000,
        segment=2,
        channels=4,
        depth=2,
        nfft=256,
        t_layers=1,
        t_heads=1,
        dconv_comp=2,
    )
    torch.manual_seed(0)
    model = HTDemucs(**kwargs)
    metadata = {"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(kwargs)}
    weights = save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata=metadata)
    files = {f.path: f for f in pretrained.SEPARATOR_MODELS["htdemucs"]}
    (sig,) = [Path(path).stem for path in files if path.endswith(".safetensors")]
    return {
        "adefossez/HTDemucs/htdemucs.yaml": f"models: ['{sig}']\n".encode(),
        f"adefossez/HTDemucs/{sig}.safetensors": weights,
    }


@pytest.fixture(scope="module")
def hub_files() -> dict[str, bytes]:
    return _tiny_demucs_files()


def _download_argv(root: Path, endpoint: str) -> list[str]:
    return ["pretrained", "download", "--separator", "htdemucs", "--dir", str(root), "--endpoint", endpoint]


def _install(hub_files: dict[str, bytes], folder: Path) -> Path:
    """The model folder as `pretrained download --separator` leaves it, without the download."""
    folder.mkdir(parents=True)
    for key, body in hub_files.items():
        (folder / key.rsplit("/", 1)[1]).write_bytes(body)
    return folder


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """torch on one thread: on a loaded machine its thread pool made the tiny model 40 times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _recording(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SLICE_SR)) / SLICE_SR
    voice = 0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    music = 0.1 * np.sign(np.sin(2 * np.pi * 55 * t))
    sf.write(path, (voice + music).astype(np.float32), SLICE_SR, subtype="FLOAT")
    return path


def test_the_table_follows_the_models_demucs_publishes():
    from demucs.hf import hf_repo_name
    from demucs.pretrained import REMOTE_ROOT

    for name, files in pretrained.SEPARATOR_MODELS.items():
        assert {f.repo_id for f in files} == {f"adefossez/{hf_repo_name(name)}"}
        bag = (REMOTE_ROOT / f"{name}.yaml").read_text()  # the bag as the demucs wheel describes it
        signatures = [Path(f.path).stem for f in files if f.path.endswith(".safetensors")]
        assert signatures and all(sig in bag for sig in signatures)
        assert f"{name}.yaml" in {f.path for f in files}
    assert pretrained.DEFAULT_SEPARATOR in pretrained.SEPARATOR_MODELS


def test_a_missing_model_names_the_command_and_nothing_is_written(tmp_path, capsys):
    source = _recording(tmp_path / "song.wav", 1.0)
    out = tmp_path / "vocals"
    with pytest.raises(PretrainedMissingError) as info:
        separate_file(source, out, pretrained_dir=tmp_path / "pretrained")
    assert f"{_COMMAND} {tmp_path / 'pretrained'}" in str(info.value)
    assert "htdemucs.yaml" in str(info.value) and not out.exists()

    argv = [
        "dataset",
        "separate",
        str(source),
        "--out",
        str(out),
        "--pretrained",
        str(tmp_path / "pretrained"),
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"{_COMMAND} {tmp_path / 'pretrained'}" in err and "Traceback" not in err and not out.exists()
    with pytest.raises(PretrainedMissingError, match="pretrained download --separator NAME"):
        require_model("my-bag", tmp_path / "pretrained")  # not a known model: the command's general form

    cli_main(["pretrained", "check", "--dir", str(tmp_path / "pretrained")])
    assert f"none (optional; `{_COMMAND} {tmp_path / 'pretrained'}` fetches one)" in capsys.readouterr().out


def test_the_slice_job_with_separation_fails_before_writing_when_the_model_is_absent(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    (workspace.root / "raw").mkdir()
    _recording(workspace.root / "raw" / "song.wav", 1.0)
    job = JobContext.standalone(workspace, ModelCache(tmp_path / "no-models"), kind="dataset_slice")
    params = DatasetSliceJob(("raw/song.wav",), "clips", separate_dir="vocals", denoise_dir="denoised")
    with pytest.raises(PretrainedMissingError, match="--separator htdemucs"):
        run(params, job)
    assert not any((workspace.root / d).exists() for d in ("clips", "vocals", "denoised"))


def test_the_dataset_tab_refuses_separation_without_the_model(tmp_path, conformance_dir):
    import gradio as gr

    from tests.test_webui_dataset import _ctx
    from webui.dataset import submit_slice

    ctx = _ctx(tmp_path, conformance_dir)
    raw = ctx.workspace.root / "datasets" / "voice" / "raw"
    raw.mkdir(parents=True)
    _recording(raw / "song.wav", 1.0)
    with pytest.raises(gr.Error, match="--separator htdemucs"):
        submit_slice(ctx, "voice", "en", separate=True)
    assert ctx.queue.get(submit_slice(ctx, "voice", "en").id).params.separate_dir is None


def test_download_then_separate_through_the_cli(tmp_path, hub_files, capsys, monkeypatch):
    root = tmp_path / "pretrained"
    with FakeHub(hub_files) as hub:
        assert cli_main(_download_argv(root, hub.endpoint)) == 0
        fetched = [path for method, path in hub.requests if method == "GET"]
    folder = root / pretrained.SEPARATOR_DIR / "htdemucs"
    assert len(fetched) == 2 and f"{folder}: htdemucs is ready" in capsys.readouterr().out
    for key, body in hub_files.items():
        assert (folder / key.rsplit("/", 1)[1]).read_bytes() == body
    assert pretrained.separator_models(root) == ["htdemucs"]

    # Blocks of 1 s with context and crossfades: 2.5 s make three, the last one short.
    monkeypatch.setattr(separate, "_BLOCK_SECONDS", 1.0)
    monkeypatch.setattr(separate, "_CONTEXT_SECONDS", 0.5)
    monkeypatch.setattr(separate, "_FADE_SECONDS", 0.2)
    source = _recording(tmp_path / "song.wav", 2.5)
    out = tmp_path / "vocals"
    assert cli_main(["dataset", "separate", str(source), "--out", str(out), "--pretrained", str(root)]) == 0
    assert f"vocals in {out / 'song.wav'}" in capsys.readouterr().out
    mix = sf.read(source, dtype="float32")[0]
    vocals, sr = sf.read(out / "song.wav", dtype="float32")
    rest, sr_rest = sf.read(out / ACCOMPANIMENT_DIR / "song.wav", dtype="float32")
    assert sr == sr_rest == SLICE_SR and vocals.shape == rest.shape == mix.shape
    assert np.isfinite(vocals).all() and np.abs(vocals).max() > 0
    np.testing.assert_allclose(vocals + rest, mix, atol=1e-6)  # the accompaniment is the rest


def test_the_separator_refuses_to_overwrite_and_can_skip_the_accompaniment(tmp_path, hub_files):
    folder = _install(hub_files, tmp_path / "htdemucs")
    separator = VocalSeparator(require_model(str(folder), tmp_path / "elsewhere"))  # a folder by path
    source = _recording(tmp_path / "song.wav", 1.0)
    with pytest.raises(separate.SeparateError, match="overwrite"):
        separator.separate_file(source, tmp_path)
    done = separator.separate_file(source, tmp_path / "out", accompaniment=False)
    assert done.accompaniment is None and not (tmp_path / "out" / ACCOMPANIMENT_DIR).exists()
    assert sf.info(done.vocals).frames == sf.info(source).frames
    (folder / "htdemucs.yaml").write_text("models: ['nothing']\n")
    with pytest.raises(separate.SeparateError, match="not a usable Demucs model"):
        VocalSeparator(folder)


def test_download_offline_fails_at_once_with_the_command_to_rerun(tmp_path, capsys):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    assert cli_main(_download_argv(tmp_path, endpoint)) == 2
    err = capsys.readouterr().err
    assert "could not download adefossez/HTDemucs/htdemucs.yaml: cannot reach 127.0.0.1" in err
    assert f"{_COMMAND} {tmp_path}" in err and "2 file(s) missing" in err and "Traceback" not in err


def test_the_slice_job_separates_then_denoises_then_slices(tmp_path, hub_files):
    root = tmp_path / "pretrained"
    _install(hub_files, root / pretrained.SEPARATOR_DIR / "htdemucs")
    workspace = Workspace.open(tmp_path / "ws")
    (workspace.root / "raw").mkdir()
    source = _recording(workspace.root / "raw" / "song.wav", 3.0)
    job = JobContext.standalone(workspace, ModelCache(root), kind="dataset_slice")
    params = DatasetSliceJob(("raw/song.wav",), "clips", separate_dir="vocals", denoise_dir="denoised")
    result = run(params, job)
    vocals = workspace.root / "vocals" / "song.wav"
    assert sf.info(vocals).frames == sf.info(workspace.root / "denoised" / "song.wav").frames
    assert sf.info(vocals).frames == sf.info(source).frames
    assert (workspace.root / "vocals" / ACCOMPANIMENT_DIR / "song.wav").is_file()
    assert result.info["clips"] == len(result.files) >= 1 and job.record.progress == 1.0
