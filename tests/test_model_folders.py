"""HuBERT and BERT folders that are missing, incomplete or damaged give messages, not tracebacks."""

import shutil

import pytest

from core.errors import CheckpointError, PretrainedMissingError
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent

MODELS = [("chinese-hubert-base", HubertContent), ("chinese-roberta-wwm-ext-large", BertPhoneFeatures)]


@pytest.mark.parametrize(("name", "loader"), MODELS)
def test_damaged_weights_are_reported_as_a_bad_download(tmp_path, conformance_dir, name, loader):
    folder = tmp_path / name
    shutil.copytree(conformance_dir / "models" / "pretrained" / name, folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file" * 10)
    with pytest.raises(CheckpointError, match="download it again"):
        loader.from_pretrained(folder)


@pytest.mark.parametrize(("name", "loader"), MODELS)
def test_missing_folder_names_the_download_command(tmp_path, name, loader):
    with pytest.raises(PretrainedMissingError, match="python -m core pretrained download"):
        loader.from_pretrained(tmp_path / name)
