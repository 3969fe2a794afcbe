"""Fine-tuning (`core.training`, `python -m core train`) with the tiny fixture models on CPU.

The GPT's training loss through the training code equals the reference's (conformance cases); one SoVITS
step trains every parameter group and no frozen one; the official names survive the training model
unchanged; and, end to end through the CLI on espeak-ng speech, both models learn, save files in the
official layout that synthesis loads, survive SIGKILL and resume with their optimiser state.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoints._io import read_checkpoint
from core.checkpoints.s1 import load_t2s
from core.checkpoints.s2 import load_sovits
from core.cli import main as cli
from core.errors import TrainingError
from core.models.discriminator import MultiPeriodDiscriminator
from core.training import weight_norm
from core.training.data import Experiment, SoVITSBatches, SoVITSData, collate_sovits
from core.training.gpt import batch_loss
from core.training.run import TrainSettings, prune, state_path
from core.training.sovits import build, official_weights, train_step

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    ("en", "Please call the doctor before noon."),
    ("en", "The garden looks lovely in the spring."),
    ("en", "We bought fresh bread at the market."),
    ("en", "My brother reads a book every week."),
    ("zh", "今天天气很好，我们去公园散步吧。"),
    ("zh", "我有三个苹果，你要不要吃一个？"),
]


def _pretrained(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


def _settings(tmp: Path, exp: Path, pretrained: Path, **kw) -> TrainSettings:
    values = dict(exp_dir=exp, pretrained_dir=pretrained, name="tiny", out_dir=tmp / "out", device="cpu")
    values.update(kw)
    return TrainSettings(**values)


# -- the loss through the training code ---------------------------------------------------------------------


def _loss_cases(conformance_dir: Path) -> list[Path]:
    manifest = json.loads((conformance_dir / "manifest.json").read_text())
    return [conformance_dir / c["dir"] for c in manifest if c["kind"] == "t2s_loss"]


def test_gpt_training_loss_matches_the_reference(conformance_dir: Path) -> None:
    cases = _loss_cases(conformance_dir)
    assert cases
    for case_dir in cases:
        case = json.loads((case_dir / "case.json").read_text())
        model = load_t2s((case_dir / case["model"]).resolve()).model.eval()  # the cases ran without dropout
        phones = torch.from_numpy(np.load(case_dir / "phoneme_ids.npy"))
        lens = torch.from_numpy(np.load(case_dir / "phoneme_ids_len.npy"))
        bert = torch.zeros(phones.shape[0], 1024, phones.shape[1])
        for i in range(phones.shape[0]):
            item = np.load(case_dir / f"../_t2s_inputs/text{i}_bert.npy").astype(np.float32)
            bert[i, :, : item.shape[1]] = torch.from_numpy(item)
        batch = {
            "phones": phones,
            "phone_lengths": lens,
            "codes": torch.from_numpy(np.load(case_dir / "semantic_ids.npy")),
            "code_lengths": torch.from_numpy(np.load(case_dir / "semantic_ids_len.npy")),
            "bert": bert,
        }
        loss, accuracy = batch_loss(model, batch, torch.device("cpu"))
        loss.backward()  # a training loss: it has a gradient
        reference = float(np.load(case_dir / "loss.npy"))
        assert abs(loss.item() - reference) <= 1e-4 * abs(reference), case_dir.name
        assert abs(accuracy - float(np.load(case_dir / "acc.npy"))) <= 1e-6, case_dir.name
        assert model.lm_head.weight.grad is not None and torch.isfinite(model.lm_head.weight.grad).all()


# -- one SoVITS step ----------------------------------------------------------------------------------------


def test_one_sovits_step_gives_finite_losses_and_trains_every_parameter_group(conformance_dir, tmp_path):
    exp = conformance_dir / "dataprep" / "exp" / "dp_public"  # made by the reference
    settings = _settings(tmp_path, exp, _pretrained(conformance_dir), batch_size=2, segment_size=2560)
    torch.manual_seed(0)
    run = build(settings, torch.device("cpu"), log=lambda _: None)
    data = SoVITSData(Experiment(exp), run.config, epoch_items=1)
    batch = collate_sovits([data[i] for i in next(iter(SoVITSBatches(data.lengths, 2)))])
    params = {"g": dict(run.model.named_parameters()), "d": dict(run.disc.named_parameters())}
    before = {side: {n: p.detach().clone() for n, p in named.items()} for side, named in params.items()}
    run.generator.train()
    run.discriminator.train()
    losses = train_step(run, batch)

    assert set(losses) == {"disc", "gen", "fm", "mel", "kl", "commit", "total_g"}
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert losses["mel"] > 0 and losses["kl"] != 0 and losses["disc"] > 0
    changed = {
        side: {n for n, p in named.items() if not torch.equal(before[side][n], p)}
        for side, named in params.items()
    }
    for group in (*run.optim_g.param_groups, *run.optim_d.param_groups):
        ids = {id(p) for p in group["params"]}
        names = [n for side, named in params.items() for n, p in named.items() if id(p) in ids]
        assert names and all(n in changed["g"] | changed["d"] for n in names), group["lr"]
    frozen = [n for n in params["g"] if n.startswith(("ssl_proj.", "quantizer."))]
    assert frozen == [] or not set(frozen) & changed["g"]
    assert not any(n.startswith(("ssl_proj.", "quantizer.")) for n in changed["g"])
    assert any(n.startswith("enc_q.") for n in changed["g"])  # the posterior encoder trains


def test_training_model_keeps_the_official_weights_and_names(conformance_dir, tmp_path):
    pretrained = _pretrained(conformance_dir)
    run = build(_settings(tmp_path, tmp_path, pretrained), torch.device("cpu"), log=lambda _: None)
    original = read_checkpoint(pretrained / "gsv-v2final-pretrained" / "s2G2333k.pth").content["weight"]
    ours = official_weights(run)
    assert set(ours) == set(original)
    for name, tensor in original.items():
        assert torch.equal(ours[name].to(tensor.dtype), tensor), name


def test_a_pretrained_discriminator_file_is_loaded(conformance_dir, tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(_pretrained(conformance_dir), pretrained)
    torch.manual_seed(3)
    disc = MultiPeriodDiscriminator()
    official = weight_norm.torch_to_official(disc.state_dict())
    assert any(k.endswith(".weight_g") for k in official) and not any(
        "parametrizations" in k for k in official
    )
    torch.save(
        {"weight": {k: v.half() for k, v in official.items()}},
        pretrained / "gsv-v2final-pretrained" / "s2D2333k.pth",
    )
    logged: list[str] = []
    run = build(_settings(tmp_path, tmp_path, pretrained), torch.device("cpu"), log=logged.append)
    assert logged == ["discriminator: s2D2333k.pth"]
    for name, tensor in weight_norm.torch_to_official(run.disc.state_dict()).items():
        assert torch.equal(tensor, official[name].half().float()), name


def test_training_refuses_a_fine_tuned_file_as_its_start(conformance_dir, tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(_pretrained(conformance_dir), pretrained)
    target = pretrained / "gsv-v2final-pretrained" / "s2G2333k.pth"
    shutil.copy(conformance_dir / "models" / "weights" / "tiny_v2_e1_s1.pth", target)
    with pytest.raises(TrainingError, match="posterior encoder"):
        build(_settings(tmp_path, tmp_path, pretrained), torch.device("cpu"), log=lambda _: None)


def test_keep_last_prunes_the_oldest_weights(tmp_path):
    for epoch in (2, 4, 6, 10):
        (tmp_path / f"v_e{epoch}_s{epoch * 3}.pth").write_bytes(b"x")
    (tmp_path / "other_e1_s1.pth").write_bytes(b"x")
    deleted = prune(tmp_path, "v", "sovits", keep_last=2)
    assert sorted(p.name for p in deleted) == ["v_e2_s6.pth", "v_e4_s12.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_e1_s1.pth", "v_e10_s30.pth", "v_e6_s18.pth"]


def test_a_damaged_training_state_is_reported_not_ignored(conformance_dir, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(conformance_dir / "dataprep" / "exp" / "dp_public", exp)
    state_path(exp, "gpt").parent.mkdir()
    state_path(exp, "gpt").write_bytes(b"not a torch file")
    pretrained = str(_pretrained(conformance_dir))
    code = cli(["train", "gpt", "--exp", str(exp), "--pretrained", pretrained, "--name", "x",
                "--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1"])  # fmt: skip
    assert code == 2
    assert not (tmp_path / "out" / "x-e1.ckpt").exists()


# -- end to end through the CLI -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def experiment(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experiment folder made by `dataset features` from espeak-ng speech, with the tiny models."""
    root = tmp_path_factory.mktemp("espeak_dataset")
    lines = []
    for i, (lang, text) in enumerate(SENTENCES):
        wav = root / f"clip{i}.wav"
        voice = ["-v", "en-us"] if lang == "en" else ["-v", "cmn"]
        subprocess.run(["espeak-ng", *voice, "-s", "150", "-w", str(wav), text], check=True)
        lines.append(f"{wav}|speaker|{lang}|{text}\n")
    (root / "train.list").write_text("".join(lines), encoding="utf-8")
    exp = root / "exp"
    args = ["dataset", "features", str(root / "train.list"), "--exp", str(exp)]
    assert cli([*args, "--pretrained", str(_pretrained(conformance_dir))]) == 0
    return exp


def _train_command(model: str, exp: Path, pretrained: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core", "train", model, "--exp", str(exp), "--pretrained", str(pretrained),
            "--name", "espeak", "--out", str(out), "--device", "cpu", *extra]  # fmt: skip


def _epoch_losses(output: str, name: str) -> dict[int, float]:
    return {
        int(m[1]): float(m[2])
        for m in re.finditer(rf"^epoch (\d+)/\d+ .*?\b{name}=([\d.e+-]+)", output, re.M)
    }


def _official_layout(path: Path) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    return {k: (v.dtype, tuple(v.shape)) for k, v in read_checkpoint(path).content["weight"].items()}


@pytest.mark.slow
def test_cli_fine_tunes_both_models_which_then_synthesize(experiment, conformance_dir, tmp_path):
    pretrained = _pretrained(conformance_dir)
    out = tmp_path / "weights"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # GPT: killed with SIGKILL after its second epoch, then the same command resumes it
    gpt = _train_command("gpt", experiment, pretrained, out, "--epochs", "8", "--batch-size", "4",
                         "--save-every", "2", "--epoch-items", "40", "--lr-scale", "10")  # fmt: skip
    first = subprocess.Popen(
        gpt, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    state = state_path(experiment, "gpt")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if state.is_file() and torch.load(state, weights_only=False)["epoch"] >= 2:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    head = first.communicate()[0]
    saved_epoch = torch.load(state, weights_only=False)["epoch"]
    assert 2 <= saved_epoch < 8, head
    second = subprocess.run(gpt, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming after epoch {saved_epoch}" in second.stdout
    losses = _epoch_losses(head + second.stdout, "loss")
    assert losses[8] <= 0.8 * losses[1], losses
    for ckpt in sorted(out.glob("espeak-e*.ckpt")):
        load_t2s(ckpt)  # every file written before and after the kill is whole
    assert _official_layout(out / "espeak-e8.ckpt") == _official_layout(
        conformance_dir / "models" / "weights" / "tiny_v2-e1.ckpt"
    )

    # SoVITS: three epochs of two steps, then one more epoch resumed from the saved state
    sovits = _train_command("sovits", experiment, pretrained, out, "--batch-size", "2", "--save-every", "3",
                            "--epoch-items", "4", "--lr-scale", "10", "--segment-size", "5120")  # fmt: skip
    run = subprocess.run(
        [*sovits, "--epochs", "3"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "starting from random weights" in run.stderr  # the fixture set has no pretrained discriminator
    mel, kl = _epoch_losses(run.stdout, "mel"), _epoch_losses(run.stdout, "kl")
    assert mel[3] <= 0.8 * mel[1] and kl[3] <= 0.8 * kl[1], run.stdout
    for name in ("disc", "gen", "fm"):
        assert all(math.isfinite(v) for v in _epoch_losses(run.stdout, name).values())
    pth = next(out.glob("espeak_e3_s*.pth"))
    assert _official_layout(pth) == _official_layout(
        conformance_dir / "models" / "weights" / "tiny_v2_e1_s1.pth"
    )
    load_sovits(pth)

    saved = torch.load(state_path(experiment, "sovits"), weights_only=False)
    resumed = subprocess.run(
        [*sovits, "--epochs", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming after epoch 3 (step {saved['step']})" in resumed.stdout
    after = torch.load(state_path(experiment, "sovits"), weights_only=False)
    steps = after["step"] - saved["step"]
    assert after["epoch"] == 4 and steps > 0
    for group in ("optim_g", "optim_d"):  # Adam's step counts went on from the saved ones, not from 0
        counts = {int(s["step"]) for s in after[group]["state"].values()}
        assert counts == {c + steps for c in {int(s["step"]) for s in saved[group]["state"].values()}}

    # the new pair synthesizes through the CLI
    wav = tmp_path / "out.wav"
    ref_wav = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    tts = subprocess.run(
        [sys.executable, "-m", "core", "tts", "--gpt", str(out / "espeak-e8.ckpt"),
         "--sovits", str(out / f"espeak_e4_s{after['step']}.pth"), "--pretrained", str(pretrained),
         "--ref", str(ref_wav), "--ref-text", "今天天气很好。", "--ref-lang", "zh", "--text", "你好。",
         "--lang", "zh", "--workspace", str(tmp_path / "ws"), "--out", str(wav)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tts.returncode == 0, tts.stdout + tts.stderr
    assert wav.stat().st_size > 1000


def test_a_run_that_cannot_fit_is_refused_before_it_starts_with_a_batch_size_that_would():
    from core.training import preflight

    cpu = torch.device("cpu")
    small = preflight.estimate("sovits", 1_000_000, 2, 300, cpu)
    assert small.fits
    huge = preflight.estimate("sovits", 100_000_000, 4096, 1900, cpu)
    assert not huge.fits and huge.peak_bytes > small.peak_bytes * 100
    with pytest.raises(
        TrainingError, match=rf"will not fit in memory .* try --batch-size {huge.fitting_batch}\b"
    ):
        preflight.require_fit(huge)
    assert preflight.estimate("sovits", 100_000_000, huge.fitting_batch, 1900, cpu).fits
    longer = preflight.estimate("gpt", 1_000_000, 2, 800, cpu)
    assert longer.peak_bytes > preflight.estimate("gpt", 1_000_000, 2, 400, cpu).peak_bytes


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux reports reclaimable memory there")
def test_available_memory_counts_the_page_cache_the_kernel_gives_back(tmp_path):
    from core.training import preflight

    # fill the page cache with a file just written, as a pip install or a dataset does: free pages shrink,
    # MemAvailable (what a run can have) does not, and the preflight must read the latter
    (tmp_path / "cached.bin").write_bytes(os.urandom(256 * 2**20))
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    available = int(meminfo["MemAvailable"].split()[0]) * 1024
    free = int(meminfo["MemFree"].split()[0]) * 1024
    measured = preflight.available_memory(torch.device("cpu"))
    assert abs(measured - available) < 128 * 2**20  # other processes move it a little between the reads
    assert available > free  # the cached file counts as available, not as free


def test_a_cancel_between_steps_keeps_the_last_epoch_and_the_next_run_resumes_it(conformance_dir, tmp_path):
    """What the Jobs tab's cancel does: the job's step callback raises `JobCancelled` between two steps."""
    from core.jobs.context import JobCancelled
    from core.training.gpt import train_gpt

    exp = tmp_path / "exp"
    shutil.copytree(conformance_dir / "dataprep" / "exp" / "dp_public", exp)  # made by the reference
    settings = _settings(tmp_path, exp, _pretrained(conformance_dir), epochs=4, batch_size=2, epoch_items=8)
    seen: list[tuple[str, int]] = []

    def cancel_in_epoch_3(event) -> None:
        seen.append((event.kind, event.epoch))
        if event.kind == "step" and event.epoch == 3:
            raise JobCancelled("cancelled from the Jobs tab")

    with pytest.raises(JobCancelled):
        train_gpt(settings, cancel_in_epoch_3, log=lambda _: None)
    state = torch.load(state_path(exp, "gpt"), weights_only=False)
    assert state["epoch"] == 2 and ("epoch", 2) in seen
    resumed: list = []
    written = train_gpt(settings, resumed.append, log=lambda _: None)
    assert resumed[0].kind == "resumed" and resumed[0].epoch == 2 and resumed[0].step == state["step"]
    assert {e.epoch for e in resumed if e.kind == "step"} == {3, 4}
    assert [p.name for p in written] == ["tiny-e4.ckpt"]
    load_t2s(written[0])
