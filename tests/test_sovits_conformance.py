"""SoVITS v2 (s2) against the reference's outputs: semantic code extraction and decoding to audio.

Cases are found through the conformance manifest by kind; the model file, inputs, arguments, seed and
tolerances are read from each case.json, so other cases of the same kinds (other sizes, seeds) run unchanged.
"""

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoints.s2 import LoadedSoVITS, load_sovits
from tests.conftest import manifest_entries

_NPY_PATH = re.compile(r"[\w./-]+\.npy")


def _case_dirs(kind: str) -> list[str]:
    return [entry["dir"] for entry in manifest_entries(kind)]


@functools.lru_cache(maxsize=2)
def _load(path: Path) -> LoadedSoVITS:
    return load_sovits(path)


def _read_case(conformance_dir: Path, case_dir: str) -> tuple[Path, dict]:
    directory = conformance_dir / case_dir
    return directory, json.loads((directory / "case.json").read_text())


def _npy_inputs(directory: Path, description: str) -> list[np.ndarray]:
    """Every `.npy` path named in an input description, loaded relative to the case folder."""
    paths = _NPY_PATH.findall(description)
    assert paths, f"no .npy path in input description {description!r}"
    return [np.load(directory / path) for path in paths]


@pytest.mark.parametrize("case_dir", _case_dirs("extract_latent"))
def test_extract_latent_codes_match_reference(conformance_dir: Path, case_dir: str) -> None:
    directory, case = _read_case(conformance_dir, case_dir)
    loaded = _load((directory / case["model"]).resolve())
    (ssl,) = _npy_inputs(directory, case["inputs"]["ssl_content"])
    expected = np.load(directory / "codes.npy")  # the reference's (B, n_q, T/2)

    codes = loaded.model.extract_latent(torch.from_numpy(ssl).float())  # ours: (n_q, B, T/2)

    assert codes.dtype == torch.long
    assert codes.shape == (expected.shape[1], expected.shape[0], expected.shape[2])
    np.testing.assert_array_equal(codes.transpose(0, 1).numpy(), expected)


@pytest.mark.parametrize("case_dir", _case_dirs("sovits_decode"))
def test_decode_matches_reference_audio(conformance_dir: Path, case_dir: str) -> None:
    directory, case = _read_case(conformance_dir, case_dir)
    loaded = _load((directory / case["model"]).resolve())
    (codes,) = _npy_inputs(directory, case["inputs"]["codes"])
    (phones,) = _npy_inputs(directory, case["inputs"]["text"])
    specs = [torch.from_numpy(spec).float() for spec in _npy_inputs(directory, case["inputs"]["refer"])]
    expected = np.load(directory / "audio.npy")
    tolerance = case["tolerance"]["audio"]

    if case["rng"]:
        torch.manual_seed(case["seed"])
    audio = loaded.model.decode(
        torch.from_numpy(codes).long(),
        torch.from_numpy(phones).long().reshape(1, -1),
        specs,
        noise_scale=case["args"]["noise_scale"],
        speed=case["args"]["speed"],
    )

    assert audio.shape == expected.shape
    got = audio.numpy()
    max_abs = float(np.abs(got - expected).max())
    rel_l2 = float(np.linalg.norm(got - expected) / np.linalg.norm(expected))
    assert max_abs <= tolerance["max_abs"], f"max abs error {max_abs:.3g}"
    assert rel_l2 <= tolerance["rel_l2"], f"relative L2 error {rel_l2:.3g}"


def test_decode_with_own_generator_is_reproducible(conformance_dir: Path) -> None:
    loaded = _load(conformance_dir / "models/pretrained/gsv-v2final-pretrained/s2G2333k.pth")
    config = loaded.config
    codes = torch.randint(0, 1024, (1, 1, 5), generator=torch.Generator().manual_seed(0))
    phones = torch.randint(0, config.n_symbols, (1, 7), generator=torch.Generator().manual_seed(1))
    spec = torch.rand(1, config.spec_channels, 9, generator=torch.Generator().manual_seed(2))

    first = loaded.model.decode(codes, phones, [spec], generator=torch.Generator().manual_seed(3))
    second = loaded.model.decode(codes, phones, spec, generator=torch.Generator().manual_seed(3))
    silent_noise = loaded.model.decode(codes, phones, [spec], noise_scale=0.0)

    assert first.shape == (1, 1, 2 * codes.shape[-1] * config.samples_per_frame)
    assert torch.equal(first, second)
    assert not torch.equal(first, silent_noise)
    assert float(first.abs().max()) <= 1.0


def test_finetuned_savee_file_decodes(conformance_dir: Path) -> None:
    loaded = _load(conformance_dir / "models/weights/tiny_v2_e1_s1.pth")
    config = loaded.config
    codes = torch.zeros(1, 1, 4, dtype=torch.long)
    phones = torch.ones(1, 3, dtype=torch.long)
    spec = torch.ones(1, config.spec_channels, 6)

    audio = loaded.model.decode(codes, phones, [spec], noise_scale=0.0, speed=1.3)

    assert audio.shape == (1, 1, (int(2 * 4 / 1.3) + 1) * config.samples_per_frame)
    assert torch.isfinite(audio).all()
