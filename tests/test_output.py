"""The one output path: atomic files in the workspace, streams that pass chunks through and keep the whole."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import WorkspaceError
from core.output import AudioStream, deliver_to_workspace, output_name
from core.workspace import Workspace


def test_a_delivery_lands_in_outputs_under_a_unique_safe_name(tmp_path: Path):
    workspace = Workspace.open(tmp_path / "ws")
    audio = (np.sin(np.arange(16000) / 8) * 8000).astype(np.int16)
    first = deliver_to_workspace(workspace, audio, 16000, interface="ui", name=output_name("我的/../声音"))
    second = deliver_to_workspace(workspace, audio, 16000, interface="ui")
    assert first.path.parent == second.path.parent == workspace.root / "outputs"
    assert first.path != second.path and ".." not in first.path.name and "/" not in first.path.stem
    assert np.array_equal(sf.read(first.path, dtype="int16")[0], audio) and first.seconds == 1.0
    assert [p.name for p in workspace.outputs_dir.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(WorkspaceError):
        deliver_to_workspace(workspace, audio, 16000, interface="ui", name="../escape.wav")


def test_a_stream_passes_every_chunk_through_and_writes_the_whole_file_at_its_end(tmp_path: Path):
    chunks = [np.full(800, i, dtype=np.int16) for i in range(5)]
    stream = AudioStream(tmp_path / "streamed.wav", 16000, interface="api")
    relayed = []
    for chunk in stream.relay(iter(chunks)):
        relayed.append(chunk)
        assert stream.delivery is None and not (tmp_path / "streamed.wav").exists()  # nothing before the end
    assert all(np.array_equal(a, b) for a, b in zip(relayed, chunks, strict=True))
    assert np.array_equal(sf.read(stream.delivery.path, dtype="int16")[0], np.concatenate(chunks))


def test_an_abandoned_stream_writes_nothing(tmp_path: Path):
    stream = AudioStream(tmp_path / "gone.wav", 16000, interface="api")
    relay = stream.relay(iter([np.zeros(10, dtype=np.int16)] * 3))
    next(relay)
    relay.close()  # the client went away
    assert stream.delivery is None and list(tmp_path.iterdir()) == []
