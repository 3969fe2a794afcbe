"""Recording → slice → `.list` (known transcripts; ASR comes later) → features, with the tiny models.

Feature shapes must agree with each clip's duration and each transcript's phones.
"""

from __future__ import annotations

import math

import soundfile as sf
import torch

from core.cli import main as cli
from core.data.features import BERT_DIR, HUBERT_DIR, NAME2SEMANTIC, NAME2TEXT, WAV32K_DIR
from core.data.slicer import SLICE_SR, slice_file
from tests.test_slicer import SENTENCES, _recording

HUBERT_HOP = 320  # samples at 16 kHz per HuBERT frame
HUBERT_WINDOW = 400


def test_sliced_recording_becomes_an_experiment_folder_with_consistent_shapes(conformance_dir, tmp_path):
    wav, _, _ = _recording(tmp_path, [0.7, 0.9, 0.6])
    source = tmp_path / "talk.wav"
    sf.write(source, wav, SLICE_SR, subtype="PCM_16")
    clips = slice_file(source, tmp_path / "clips")
    assert len(clips) == len(SENTENCES)
    # Clip i holds sentence i (every cut is in a gap); half the clips are given Chinese transcripts.
    texts = [
        (SENTENCES[0], "en"),
        ("今天天气很好，我们走吧。", "zh"),
        (SENTENCES[2], "en"),
        ("我有三个苹果。", "zh"),
    ]
    list_path = tmp_path / "talk.list"
    list_path.write_text(
        "".join(f"{clip}|me|{lang}|{text}\n" for clip, (text, lang) in zip(clips, texts, strict=True)),
        encoding="utf-8",
    )
    exp = tmp_path / "exp"
    pretrained = conformance_dir / "models" / "pretrained"
    assert (
        cli(["dataset", "features", str(list_path), "--exp", str(exp), "--pretrained", str(pretrained)]) == 0
    )

    rows = [line.split("\t") for line in (exp / NAME2TEXT).read_text(encoding="utf-8").splitlines()]
    assert [row[0] for row in rows] == [clip.name for clip in clips]
    tokens = dict(line.split("\t") for line in (exp / NAME2SEMANTIC).read_text().splitlines()[1:])
    for clip, row, (_, lang) in zip(clips, rows, texts, strict=True):
        n_in = sf.info(clip).frames
        n_32k = sf.info(exp / WAV32K_DIR / clip.name).frames
        assert n_32k == n_in  # already 32 kHz: same length
        n_16k = math.ceil(n_32k / 2)
        ssl = torch.load(exp / HUBERT_DIR / f"{clip.name}.pt", weights_only=True)
        assert ssl.shape == (1, 768, (n_16k - HUBERT_WINDOW) // HUBERT_HOP + 1)
        assert len(tokens[clip.name].split()) == (ssl.shape[2] - 2) // 2 + 1
        phones = row[1].split()
        bert_path = exp / BERT_DIR / f"{clip.name}.pt"
        if lang == "zh":
            assert torch.load(bert_path, weights_only=True).shape == (1024, len(phones))
            assert sum(int(n) for n in row[2].strip("[]").split(",")) == len(phones)
        else:
            assert not bert_path.exists() and row[2] == "None"
