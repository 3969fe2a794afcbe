"""Tab logic without a browser: what the Synthesize tab says and lists."""

from pathlib import Path

from core.settings import Settings
from core.workspace import Workspace
from webui import StudioContext, build_studio
from webui.synthesize import list_weights, missing_pretrained_message


def _ctx(tmp_path: Path, pretrained: Path) -> StudioContext:
    settings = Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained)
    return StudioContext(settings=settings, workspace=Workspace.open(settings.workspace))


def test_missing_pretrained_models_come_with_the_command_to_fetch_them(tmp_path):
    message = missing_pretrained_message(_ctx(tmp_path, tmp_path / "empty"))
    assert "python -m core pretrained download --version v2" in message
    assert "chinese-hubert-base" in message


def test_complete_pretrained_folder_gives_no_warning(tmp_path, conformance_dir):
    assert missing_pretrained_message(_ctx(tmp_path, conformance_dir / "models" / "pretrained")) == ""


def test_weights_lists_show_gpt_and_sovits_files_but_no_discriminator(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    (ctx.workspace.weights_dir).mkdir(parents=True)
    (ctx.workspace.weights_dir / "s2D2333k.pth").write_bytes(b"")
    (ctx.workspace.weights_dir / "my_voice_e8_s200.pth").write_bytes(b"")
    gpt_names = [Path(p).name for p in list_weights(ctx, ".ckpt")]
    assert gpt_names == ["s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"]
    assert [Path(p).name for p in list_weights(ctx, ".pth")] == ["s2G2333k.pth", "my_voice_e8_s200.pth"]


def test_studio_builds_with_both_tabs(tmp_path, conformance_dir):
    studio = build_studio(_ctx(tmp_path, conformance_dir / "models" / "pretrained"))
    labels = {getattr(block, "label", None) for block in studio.blocks.values()}
    assert {"Synthesize", "Text"} <= labels
