"""SoVITS (s2) fine-tuning, as the reference's `s2_train.py` does it for v2.

From the pretrained generator (s2G, with its posterior encoder) and discriminator (s2D; random when the file
is absent: said in the log), each step: the generator decodes a 32-frame segment of the posterior latent;
the discriminator learns real from generated (least squares); the generator learns from 45 x the L1 distance
of the segments' log-mel spectrograms, the KL between the flowed posterior and the text/content prior, the
adversarial and feature-matching losses, and the quantizer's commitment (0: the quantizer stays frozen).
AdamW (betas 0.8/0.99, eps 1e-9) at 1e-4 for the discriminator and most of the generator, 0.4 x that for the
phone embedding, phone encoder and MRTE; both decayed by 0.999875 per epoch. Mixed precision (fp16 with
loss scaling) on CUDA, float32 on CPU. Batches of clips of similar length (`core.training.data`).

Output: `NAME_e{epoch}_s{step}.pth`, the reference's inference layout (fp16, no `enc_q`, its config), which
`python -m core tts`, the studio and the reference load.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from core.checkpoints._io import StoredHParams, config_to_dict, read_checkpoint
from core.checkpoints.s2 import (
    TRAINING_WEIGHT_NORM_LAYERS,
    join_s2_from_training,
    read_sovits,
    save_sovits,
    split_s2_for_training,
)
from core.errors import CheckpointError, TrainingError
from core.models.discriminator import MultiPeriodDiscriminator
from core.models.sovits import SoVITS, SoVITSConfig, slice_segments
from core.pretrained import model_paths, require_supported
from core.training import preflight, weight_norm
from core.training.data import Experiment, SoVITSBatches, SoVITSData, collate_sovits
from core.training.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from core.training.mel import mel_filters, mel_spectrogram, spec_to_mel
from core.training.run import (
    OnEvent,
    TrainEvent,
    TrainSettings,
    load_state,
    out_of_memory_advice,
    pick_device,
    prune,
    restore_rng,
    rng_state,
    save_state,
    start_processes,
    state_path,
    weights_path,
)

# the reference's `configs/s2.json` training section, used when the pretrained file's config lacks a key
S2_TRAIN_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-4,
    "betas": [0.8, 0.99],
    "eps": 1e-9,
    "lr_decay": 0.999875,
    "segment_size": 20480,
    "c_mel": 45,
    "c_kl": 1.0,
    "text_low_lr_rate": 0.4,
    "n_mel_channels": 128,
}
SLOWER_PARTS = ("enc_p.text_embedding", "enc_p.encoder_text", "enc_p.mrte")  # trained at text_low_lr_rate
FROZEN_PARTS = ("ssl_proj", "quantizer")  # the semantic tokenizer the GPT was trained on stays as it is


@dataclass
class SoVITSTraining:
    """The models, optimisers and fixed settings of one run."""

    generator: nn.Module  # SoVITS, or its DistributedDataParallel wrapper
    discriminator: nn.Module
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    config: SoVITSConfig
    hparams: dict[str, Any]  # the pretrained file's config with this run's settings written in
    codebook_statistics: dict[str, torch.Tensor]
    mel_filters: torch.Tensor
    device: torch.device
    mixed_precision: bool
    base_rates: list[float]  # each optimiser group's rate before the per-epoch decay

    @property
    def model(self) -> SoVITS:
        return getattr(self.generator, "module", self.generator)

    @property
    def disc(self) -> MultiPeriodDiscriminator:
        return getattr(self.discriminator, "module", self.discriminator)

    @property
    def segment_frames(self) -> int:
        return int(self.hparams["train"]["segment_size"]) // self.config.hop_length


def _train_section(raw_config: Any) -> dict[str, Any]:
    config = config_to_dict(raw_config) if raw_config is not None else {}
    return {**S2_TRAIN_DEFAULTS, **(config.get("train") or {})}


def build(settings: TrainSettings, device: torch.device, log=print) -> SoVITSTraining:  # noqa: ANN001
    """Models from the pretrained s2G (and s2D when present) and their optimisers, on `device`."""
    paths = model_paths(settings.pretrained_dir, require_supported(settings.version))
    if not paths.sovits.is_file():
        raise TrainingError(
            f"no pretrained SoVITS generator at {paths.sovits}; "
            "run: python -m core pretrained download --training"
        )
    stored = read_sovits(paths.sovits)
    state, statistics = split_s2_for_training(stored.weights)
    if not any(name.startswith("enc_q.") for name in state):
        raise TrainingError(
            f"{stored.name} has no posterior encoder (enc_q): it is a fine-tuned inference file; "
            "training starts from the pretrained s2G file"
        )
    generator = SoVITS(stored.config, posterior_encoder=True)
    weight_norm.attach(generator, TRAINING_WEIGHT_NORM_LAYERS)
    try:
        generator.load_state_dict({k: v.float() for k, v in weight_norm.official_to_torch(state).items()})
    except RuntimeError as exc:
        raise TrainingError(f"{stored.name}: its weights do not fit its config ({exc})") from exc
    discriminator = MultiPeriodDiscriminator()
    if paths.sovits_d.is_file():
        raw = read_checkpoint(paths.sovits_d, kind="SoVITS discriminator").content
        try:
            discriminator.load_state_dict(
                {k: v.float() for k, v in weight_norm.official_to_torch(raw["weight"]).items()}
            )
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{paths.sovits_d.name}: not a v2 SoVITS discriminator ({exc})") from exc
        log(f"discriminator: {paths.sovits_d.name}")
    else:
        log(f"discriminator: {paths.sovits_d.name} not found, starting from random weights")

    return prepare(generator, discriminator, stored.raw_config, statistics, settings, device)


def prepare(
    generator: SoVITS,
    discriminator: MultiPeriodDiscriminator,
    raw_config: Any,
    statistics: Mapping[str, torch.Tensor],
    settings: TrainSettings,
    device: torch.device,
) -> SoVITSTraining:
    """Optimisers and settings for loaded models (`build`; the benchmark passes random-weight ones):
    `raw_config` is the pretrained file's stored config, `statistics` its codebook statistics."""
    config = generator.config
    for part in FROZEN_PARTS:
        generator.get_submodule(part).requires_grad_(False)
    paths = model_paths(settings.pretrained_dir, settings.version)
    train = _train_section(raw_config)
    rate = float(train["learning_rate"]) * settings.lr_scale
    slow = [p for part in SLOWER_PARTS for p in generator.get_submodule(part).parameters()]
    slow_ids = {id(p) for p in slow}
    base = [p for p in generator.parameters() if p.requires_grad and id(p) not in slow_ids]
    adam = dict(betas=tuple(train["betas"]), eps=float(train["eps"]))
    low = rate * float(train["text_low_lr_rate"])
    optim_g = torch.optim.AdamW([{"params": base, "lr": rate}, {"params": slow, "lr": low}], rate, **adam)
    optim_d = torch.optim.AdamW(discriminator.parameters(), rate, **adam)

    hparams = config_to_dict(raw_config)
    segment = settings.segment_size or int(train["segment_size"])
    if segment % config.hop_length:
        raise TrainingError(f"segment size {segment} is not a multiple of the hop length {config.hop_length}")
    hparams["train"] = {
        **train,
        "segment_size": segment,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "save_every_epoch": settings.save_every,
        "pretrained_s2G": str(paths.sovits),
        "pretrained_s2D": str(paths.sovits_d),
        "if_save_latest": True,
        "if_save_every_weights": True,
        "fp16_run": device.type == "cuda",
    }
    hparams["data"] = {**(hparams.get("data") or {}), "exp_dir": str(settings.exp_dir)}
    hparams["model"] = {**(hparams.get("model") or {}), "version": settings.version}
    hparams.update(
        s2_ckpt_dir=str(settings.exp_dir),
        save_weight_dir=str(settings.out_dir),
        name=settings.name,
        version=settings.version,
        pretrain=None,
        resume_step=None,
    )
    n_mels = int((hparams.get("data") or {}).get("n_mel_channels", S2_TRAIN_DEFAULTS["n_mel_channels"]))
    fmax = (hparams.get("data") or {}).get("mel_fmax")
    fmin = float((hparams.get("data") or {}).get("mel_fmin", 0.0))
    mixed = device.type == "cuda"
    return SoVITSTraining(
        generator=generator.to(device),
        discriminator=discriminator.to(device),
        optim_g=optim_g,
        optim_d=optim_d,
        scaler=torch.amp.GradScaler(device.type, enabled=mixed),
        config=config,
        hparams=hparams,
        codebook_statistics={k: v.clone() for k, v in statistics.items()},
        mel_filters=mel_filters(config.filter_length, n_mels, config.sampling_rate, fmin, fmax).to(device),
        device=device,
        mixed_precision=mixed,
        base_rates=[rate, low, rate],
    )


def set_epoch_rates(run: SoVITSTraining, epoch: int) -> None:
    """ExponentialLR as the reference steps it: epoch e (from 1) trains at base x decay^e."""
    decay = float(run.hparams["train"]["lr_decay"]) ** epoch
    groups = [*run.optim_g.param_groups, *run.optim_d.param_groups]
    for group, base in zip(groups, run.base_rates, strict=True):
        group["lr"] = base * decay


def train_step(run: SoVITSTraining, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """One discriminator and one generator update on `batch` (from `collate_sovits`); returns the losses."""
    b = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
    c, train = run.config, run.hparams["train"]
    segment = run.segment_frames
    autocast = torch.autocast(run.device.type, dtype=torch.float16, enabled=run.mixed_precision)
    with autocast:
        out = run.generator(b["ssl"], b["spec"], b["spec_lengths"], b["phones"], b["phone_lengths"], segment)
        mel = spec_to_mel(b["spec"].float(), run.mel_filters)
        real_mel = slice_segments(mel, out.segment_starts, segment)
        fake_mel = mel_spectrogram(
            out.audio.squeeze(1).float(), run.mel_filters, c.filter_length, c.hop_length, c.win_length
        )
        real = slice_segments(b["wav"], out.segment_starts * c.hop_length, segment * c.hop_length)
        real_scores, fake_scores, _, _ = run.discriminator(real, out.audio.detach())
        loss_d = discriminator_loss(real_scores, fake_scores)
    run.optim_d.zero_grad(set_to_none=True)
    run.scaler.scale(loss_d).backward()
    run.scaler.unscale_(run.optim_d)
    run.scaler.step(run.optim_d)

    with autocast:
        _, fake_scores, real_features, fake_features = run.discriminator(real, out.audio)
        loss_mel = F.l1_loss(real_mel, fake_mel) * float(train["c_mel"])
        loss_kl = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.mask) * float(train["c_kl"])
        loss_fm = feature_loss(real_features, fake_features)
        loss_gen = generator_loss(fake_scores)
        loss_g = loss_gen + loss_fm + loss_mel + out.commitment + loss_kl
    run.optim_g.zero_grad(set_to_none=True)
    run.scaler.scale(loss_g).backward()
    run.scaler.unscale_(run.optim_g)
    run.scaler.step(run.optim_g)
    run.scaler.update()
    losses = {
        "disc": loss_d,
        "gen": loss_gen,
        "fm": loss_fm,
        "mel": loss_mel,
        "kl": loss_kl,
        "commit": out.commitment,
        "total_g": loss_g,
    }
    return {name: float(value.detach()) for name, value in losses.items()}


def official_weights(run: SoVITSTraining) -> dict[str, torch.Tensor]:
    """The generator's weights under their official names (with `enc_q`; `save_sovits` drops it)."""
    ours = weight_norm.torch_to_official(run.model.state_dict())
    return join_s2_from_training(ours, run.codebook_statistics)


def save_inference(run: SoVITSTraining, settings: TrainSettings, epoch: int, step: int) -> Path:
    path = weights_path(settings.out_dir, settings.name, "sovits", epoch, step)
    save_sovits(
        path, official_weights(run), StoredHParams.from_dict(run.hparams), f"{epoch}epoch_{step}iteration"
    )
    return path


def _state(run: SoVITSTraining, settings: TrainSettings, epoch: int, step: int) -> dict[str, Any]:
    return {
        "model": "sovits",
        "version": settings.version,
        "epoch": epoch,
        "step": step,
        "settings": settings.to_dict(),
        "generator": run.model.state_dict(),
        "discriminator": run.disc.state_dict(),
        "optim_g": run.optim_g.state_dict(),
        "optim_d": run.optim_d.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": rng_state(),
    }


def train_sovits(settings: TrainSettings, on_event: OnEvent | None = None, log=print) -> list[Path]:  # noqa: ANN001
    """Fine-tune SoVITS; returns the inference files written by this call (resuming when a state exists)."""
    on_event = on_event or (lambda event: None)
    device = pick_device(settings.device)
    processes = start_processes(device)
    device = pick_device(settings.device, processes)
    torch.manual_seed(settings.seed)
    run = build(settings, device, log if processes.main else (lambda _: None))
    data = SoVITSData(Experiment(settings.exp_dir), run.config, settings.epoch_items)
    if data.skipped and processes.main:
        log(f"left out {len(set(data.skipped))} clips (length outside 0.6-54 s or unreadable phones)")
    trainable = sum(p.numel() for m in (run.model, run.disc) for p in m.parameters() if p.requires_grad)
    need = preflight.estimate(
        "sovits",
        trainable,
        settings.batch_size,
        max(data.lengths),
        device,
        run.segment_frames * run.config.hop_length,
    )
    log(f"memory: {need.describe()}")
    preflight.require_fit(need)
    batches = SoVITSBatches(data.lengths, settings.batch_size, processes.world, processes.rank)
    loader = torch.utils.data.DataLoader(data, batch_sampler=batches, collate_fn=collate_sovits)
    steps_per_epoch = len(batches)

    first_epoch, step = 1, 0
    saved_state = load_state(state_path(settings.exp_dir, "sovits"), "sovits", settings)
    if saved_state is not None:
        run.model.load_state_dict(saved_state["generator"])
        run.disc.load_state_dict(saved_state["discriminator"])
        run.optim_g.load_state_dict(saved_state["optim_g"])
        run.optim_d.load_state_dict(saved_state["optim_d"])
        run.scaler.load_state_dict(saved_state["scaler"])
        restore_rng(saved_state["rng"])
        first_epoch, step = int(saved_state["epoch"]) + 1, int(saved_state["step"])
        on_event(TrainEvent("resumed", "sovits", first_epoch - 1, step, steps_per_epoch, settings.epochs))
    if processes.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        run.generator = DistributedDataParallel(run.generator, device_ids=ids)
        run.discriminator = DistributedDataParallel(run.discriminator, device_ids=ids)

    written: list[Path] = []
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(first_epoch, settings.epochs + 1):
        set_epoch_rates(run, epoch)
        batches.set_epoch(epoch)
        run.generator.train()
        run.discriminator.train()
        for batch in loader:
            with out_of_memory_advice(settings.batch_size):
                losses = train_step(run, batch)
            step += 1
            on_event(TrainEvent("step", "sovits", epoch, step, steps_per_epoch, settings.epochs, losses))
        if processes.main:
            files: tuple[str, ...] = ()
            if epoch % settings.save_every == 0 or epoch == settings.epochs:
                path = save_inference(run, settings, epoch, step)
                written.append(path)
                prune(settings.out_dir, settings.name, "sovits", settings.keep_last)
                files = (str(path),)
            save_state(state_path(settings.exp_dir, "sovits"), _state(run, settings, epoch, step))
            event = "saved" if files else "epoch"
            on_event(TrainEvent(event, "sovits", epoch, step, steps_per_epoch, settings.epochs, files=files))
    with contextlib.suppress(Exception):
        if processes.world > 1:
            torch.distributed.barrier()
    return written
