"""The one output path: atomic files in the workspace, marked and logged; streams that pass marked chunks
through, log before the first and keep the whole."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import WorkspaceError
from core.ethics import detect, read_usage
from core.ethics.watermark import self_check_signal
from core.output import AudioStream, deliver_to_workspace, output_name
from core.workspace import Workspace


def _speech_like(seconds: float, sr: int = 16000) -> np.ndarray:
    return (self_check_signal(sr, seconds) * 32767).astype(np.int16)


def test_a_delivery_lands_in_outputs_under_a_unique_safe_name(tmp_path: Path):
    workspace = Workspace.open(tmp_path / "ws")
    audio = _speech_like(1.0)
    first = deliver_to_workspace(workspace, audio, 16000, interface="ui", name=output_name("我的/../声音"))
    second = deliver_to_workspace(workspace, audio, 16000, interface="ui")
    assert first.path.parent == second.path.parent == workspace.root / "outputs"
    assert first.path != second.path and ".." not in first.path.name and "/" not in first.path.stem
    written = sf.read(first.path, dtype="int16")[0]
    assert written.shape == audio.shape and not np.array_equal(written, audio) and first.seconds == 1.0
    change = np.sum((written.astype(float) - audio) ** 2)
    assert 10 * np.log10(np.sum(audio.astype(float) ** 2) / change) > 34  # marked, inaudibly
    assert [r["output_sha256"] for r in read_usage(workspace.root)] == [
        first.record.output_sha256,
        second.record.output_sha256,
    ]
    assert [p.name for p in workspace.outputs_dir.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(WorkspaceError):
        deliver_to_workspace(workspace, audio, 16000, interface="ui", name="../escape.wav")


def test_a_stream_passes_every_chunk_through_marked_and_writes_the_whole_file_at_its_end(tmp_path: Path):
    audio = _speech_like(4.0)
    chunks = np.array_split(audio, [11000, 30000, 30500])
    stream = AudioStream(tmp_path / "ws", tmp_path / "streamed.wav", 16000, interface="api")
    relayed = []
    for chunk in stream.relay(iter(chunks)):
        relayed.append(chunk)
        assert stream.delivery is None and not (tmp_path / "streamed.wav").exists()  # nothing before the end
        assert len(read_usage(tmp_path / "ws")) == 1  # logged before the first chunk left
    assert [len(a) for a in relayed] == [len(c) for c in chunks]
    assert np.array_equal(sf.read(stream.delivery.path, dtype="int16")[0], np.concatenate(relayed))
    found = detect(np.concatenate(relayed), 16000)
    assert found.detected and found.payload.generation_id == read_usage(tmp_path / "ws")[0]["generation_id"]


def test_an_abandoned_stream_writes_no_file_but_its_log_line(tmp_path: Path):
    stream = AudioStream(tmp_path / "ws", tmp_path / "gone.wav", 16000, interface="api")
    relay = stream.relay(iter([_speech_like(0.5)] * 3))
    next(relay)
    relay.close()  # the client went away
    assert stream.delivery is None and not (tmp_path / "gone.wav").exists()
    assert read_usage(tmp_path / "ws")[0]["extra"] == {"stream": True}
