"""Pretrained weights: the version table, `check`, and `download` against a local fake Hub."""

import hashlib
import io
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from core import pretrained
from core.cli import main as cli_main
from core.errors import PretrainedMissingError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """Enough of the Hub's `resolve` API for huggingface_hub: HEAD/GET with commit, ETag, size, ranges."""

    def __init__(self, files: dict[str, bytes], lie_about_sha: frozenset[str] = frozenset()) -> None:
        self.files = files  # "owner/name/path" -> content
        self.lie_about_sha = lie_about_sha
        self.requests: list[tuple[str, str]] = []
        self.ranges: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _lookup(self) -> tuple[str, bytes] | None:
                # ['', owner, name, 'resolve', revision, *path]
                parts = unquote(self.path.split("?")[0]).split("/")
                if len(parts) < 6 or parts[3] != "resolve":
                    return None
                key = "/".join(parts[1:3] + parts[5:])
                return (key, hub.files[key]) if key in hub.files else None

            def _headers(self, key: str, body: bytes, status: int, length: int) -> None:
                self.send_response(status)
                sha = hashlib.sha256(body).hexdigest()
                if key in hub.lie_about_sha:
                    sha = hashlib.sha256(body + b"x").hexdigest()
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(body)))
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def _not_found(self) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:
                hub.requests.append(("HEAD", self.path))
                found = self._lookup()
                if found is None:
                    return self._not_found()
                key, body = found
                self._headers(key, body, 200, len(body))

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path))
                found = self._lookup()
                if found is None:
                    return self._not_found()
                key, body = found
                start = 0
                ranged = self.headers.get("Range", "")
                hub.ranges.append(ranged)
                if ranged.startswith("bytes="):
                    start = int(ranged[len("bytes=") :].split("-")[0] or 0)
                part = body[start:]
                self._headers(key, body, 206 if start else 200, len(part))
                self.wfile.write(part)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fake_repo(version: str, include_training: bool) -> dict[str, bytes]:
    files = {}
    for i, f in enumerate(pretrained.files_for(version, include_training)):
        files[f"{f.repo_id}/{f.path}"] = f"{f.path}:{i}:".encode() * (50 + 7 * i)
    return files


def test_v2_table_matches_the_reference_layout():
    paths = {f.path for f in pretrained.files_for("v2")}
    assert "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt" in paths
    assert "gsv-v2final-pretrained/s2G2333k.pth" in paths
    assert "gsv-v2final-pretrained/s2D2333k.pth" in paths
    assert "chinese-roberta-wwm-ext-large/pytorch_model.bin" in paths
    assert "chinese-hubert-base/pytorch_model.bin" in paths
    inference = {f.path for f in pretrained.files_for("v2", include_training=False)}
    assert "gsv-v2final-pretrained/s2D2333k.pth" not in inference
    assert all(f.repo_id == pretrained.HUB_REPO for f in pretrained.files_for("v2"))
    for version in pretrained.VERSIONS:
        roles = {f.role for f in pretrained.files_for(version)}
        assert {"bert", "hubert", "t2s", "sovits"} <= roles


def test_unknown_version_is_rejected():
    with pytest.raises(PretrainedMissingError, match="v2"):
        pretrained.files_for("v9")


def test_check_accepts_the_conformance_folder_for_inference(conformance_dir: Path):
    root = conformance_dir / "models" / "pretrained"
    report = pretrained.check(root, "v2", include_training=False)
    assert report.ok, report.describe()
    found = {s.found.name for s in report.files}
    assert "model.safetensors" in found  # alternative to pytorch_model.bin
    paths = pretrained.model_paths(root, "v2")
    assert paths.sovits.is_file() and paths.t2s.is_file() and paths.bert_dir.is_dir()


def test_check_reports_missing_files_with_urls(tmp_path: Path):
    report = pretrained.check(tmp_path, "v2")
    assert not report.ok and not report.present
    text = report.describe()
    assert "https://huggingface.co/lj1995/GPT-SoVITS/resolve/main/gsv-v2final-pretrained/s2G2333k.pth" in text
    assert str(tmp_path / "gsv-v2final-pretrained" / "s2G2333k.pth") in text
    with pytest.raises(PretrainedMissingError, match="pretrained download"):
        pretrained.require(tmp_path, "v2")


def test_download_fetches_every_missing_file_from_the_hub(tmp_path: Path):
    files = _fake_repo("v2", include_training=True)
    calls = []
    with FakeHub(files) as hub:
        report = pretrained.download(
            tmp_path, "v2", lambda done, total, path: calls.append((done, total, path)), endpoint=hub.endpoint
        )
    assert report.ok, report.describe()
    for status in report.files:
        assert status.found.read_bytes() == files[f"{status.file.repo_id}/{status.file.path}"]
    assert calls[-1] == (len(files), len(files), "")
    assert [c[2] for c in calls[:-1]] == [f.path for f in pretrained.files_for("v2")]


def test_download_skips_files_already_present(tmp_path: Path):
    files = _fake_repo("v2", include_training=False)
    first = pretrained.files_for("v2", include_training=False)[0]
    (tmp_path / first.path).parent.mkdir(parents=True)
    (tmp_path / first.path).write_bytes(b"already here")
    with FakeHub(files) as hub:
        report = pretrained.download(tmp_path, "v2", include_training=False, endpoint=hub.endpoint)
        requested = {path for _, path in hub.requests}
    assert report.ok
    assert (tmp_path / first.path).read_bytes() == b"already here"
    assert not any(unquote(path).endswith(first.path) for path in requested)


def test_download_resumes_a_partial_file(tmp_path: Path):
    # Where huggingface_hub keeps an interrupted download inside local_dir (its private layout).
    from huggingface_hub._local_folder import get_local_download_paths

    files = _fake_repo("v2", include_training=False)
    target = pretrained.files_for("v2", include_training=False)[1]
    body = files[f"{target.repo_id}/{target.path}"]
    sha = hashlib.sha256(body).hexdigest()
    partial = get_local_download_paths(tmp_path, target.path).incomplete_path(sha)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(body[:100])
    with FakeHub(files) as hub:
        report = pretrained.download(tmp_path, "v2", include_training=False, endpoint=hub.endpoint)
        ranges = list(hub.ranges)
    assert report.ok
    assert (tmp_path / target.path).read_bytes() == body
    assert "bytes=100-" in ranges


def test_download_rejects_a_file_whose_sha256_differs(tmp_path: Path):
    files = _fake_repo("v2", include_training=False)
    bad = pretrained.files_for("v2", include_training=False)[1]
    with FakeHub(files, lie_about_sha=frozenset({f"{bad.repo_id}/{bad.path}"})) as hub:
        with pytest.raises(PretrainedMissingError, match="sha256"):
            pretrained.download(tmp_path, "v2", include_training=False, endpoint=hub.endpoint)
    assert not (tmp_path / bad.path).exists()


def test_download_names_a_file_the_hub_does_not_have(tmp_path: Path):
    files = _fake_repo("v2", include_training=False)
    gone = pretrained.files_for("v2", include_training=False)[-1]
    del files[f"{gone.repo_id}/{gone.path}"]
    with FakeHub(files) as hub:
        with pytest.raises(PretrainedMissingError, match="404") as info:
            pretrained.download(tmp_path, "v2", include_training=False, endpoint=hub.endpoint)
    assert gone.path in str(info.value)
    assert str(tmp_path / gone.path) in str(info.value)


def test_download_unpacks_the_g2pw_archive(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("G2PWModel_1.1/g2pW.onnx", b"onnx")
        zf.writestr("G2PWModel_1.1/config.py", b"x = 1")
    g2pw = pretrained.EXTRAS["g2pw"]
    files = {f"{g2pw.repo_id}/{g2pw.path}": buffer.getvalue()}
    (tmp_path / "skip").mkdir()
    for f in pretrained.files_for("v2"):  # everything else is already there
        (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.path).write_bytes(b"present")
    with FakeHub(files) as hub:
        report = pretrained.download(tmp_path, "v2", extras=("g2pw",), endpoint=hub.endpoint)
    assert report.ok
    assert (tmp_path / "G2PWModel" / "g2pW.onnx").read_bytes() == b"onnx"
    assert not (tmp_path / "G2PWModel.zip").exists()


def test_download_fails_at_once_when_the_hub_is_unreachable(tmp_path: Path):
    # Port 9 (discard) on the loopback: nothing listens, the connection is refused immediately.
    start = time.monotonic()
    with pytest.raises(PretrainedMissingError) as info:
        pretrained.download(tmp_path, "v2", endpoint="http://127.0.0.1:9", timeout_s=2.0)
    assert time.monotonic() - start < 10  # "fails within seconds", not after the hub client's retries
    message = str(info.value)
    assert "could not download" in message
    for f in pretrained.files_for("v2"):
        assert f"http://127.0.0.1:9/{f.repo_id}/resolve/main/{f.path}" in message
        assert str(tmp_path / f.path) in message


def test_cli_check_and_download(tmp_path: Path, capsys):
    assert cli_main(["pretrained", "check", "--dir", str(tmp_path)]) == 1
    assert "MISSING" in capsys.readouterr().out
    files = _fake_repo("v2", include_training=True)
    with FakeHub(files) as hub:
        argv = ["pretrained", "download", "--dir", str(tmp_path), "--endpoint", hub.endpoint]
        assert cli_main(argv) == 0  # inference files only, by default
        assert not (tmp_path / "gsv-v2final-pretrained" / "s2D2333k.pth").exists()
        assert cli_main([*argv, "--training"]) == 0
    assert (tmp_path / "gsv-v2final-pretrained" / "s2D2333k.pth").is_file()
    assert cli_main(["pretrained", "check", "--dir", str(tmp_path), "--training"]) == 0
    assert cli_main(["pretrained", "check", "--dir", str(tmp_path), "--inference-only"]) == 0  # old flag
    capsys.readouterr()
    (tmp_path / "chinese-hubert-base" / "config.json").unlink()
    offline = ["pretrained", "download", "--dir", str(tmp_path), "--endpoint", "http://127.0.0.1:9"]
    assert cli_main(offline) == 2
    assert "could not download" in capsys.readouterr().err


def _inference_files_only(root: Path) -> None:
    for f in pretrained.files_for("v2", include_training=False):
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_bytes(b"present")


def test_check_is_ready_for_inference_without_the_discriminator(tmp_path: Path, capsys):
    _inference_files_only(tmp_path)
    report = pretrained.check(tmp_path, "v2", include_training=False)
    assert report.ok and not report.missing
    assert [s.file.path for s in report.optional] == ["gsv-v2final-pretrained/s2D2333k.pth"]

    assert cli_main(["pretrained", "check", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "inference is ready" in out and "file(s) missing" not in out
    assert "s2D2333k.pth (optional)" in out
    assert "discriminator starts from random init" in out
    assert f"python -m core pretrained download --version v2 --training --dir {tmp_path}" in out

    # Asking for the fine-tuning files makes the discriminator required.
    assert cli_main(["pretrained", "check", "--dir", str(tmp_path), "--training"]) == 1
    out = capsys.readouterr().out
    assert "1 file(s) missing" in out and "--training" in out


@pytest.mark.parametrize("version", ["v1", "v2Pro", "v2ProPlus", "v3", "v4"])
@pytest.mark.parametrize("action", ["check", "download"])
def test_versions_timbre_cannot_load_are_refused_plainly(tmp_path: Path, capsys, version: str, action: str):
    argv = ["pretrained", action, "--version", version, "--dir", str(tmp_path)]
    if action == "download":
        argv += ["--endpoint", "http://127.0.0.1:9"]
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert f"{version} is not supported yet: Timbre loads v2 models only" in captured.err
    assert not captured.out
    with pytest.raises(PretrainedMissingError, match="not supported yet"):
        pretrained.check(tmp_path, version)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_offline_says_which_host_is_unreachable_in_one_sentence(tmp_path: Path, capsys):
    port = _closed_port()
    endpoint = f"http://127.0.0.1:{port}"
    first = pretrained.files_for("v2", include_training=False)[0]
    assert cli_main(["pretrained", "download", "--dir", str(tmp_path), "--endpoint", endpoint]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"[1/8] {first.path}\n")  # progress
    head, _, rest = err.removeprefix(f"[1/8] {first.path}\n").partition("\n")
    assert head == (
        f"error: could not download {first.path}: cannot reach 127.0.0.1:{port} "
        "(no network connection, or the host is unreachable)."
    )
    for raw in ("HTTPConnectionPool", "Max retries", "NewConnectionError", "urllib3", "Errno"):
        assert raw not in err
    assert rest.startswith("8 file(s) missing")  # then the manual download list, as before
    for f in pretrained.files_for("v2", include_training=False):
        assert f"{endpoint}/{f.repo_id}/resolve/main/{f.path}" in rest
