"""Helpers for browser tests: start the real studio in a subprocess and drive Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is needed for browser tests: apt-get install chromium (.ci/run does)")
    return path


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def choose(page: Page, elem_id: str, value: str, *, listed: bool = True, timeout_ms: float = 15_000) -> None:
    """Pick `value` in the dropdown `elem_id` by typing it. With `listed`, wait until the dropdown offers it
    first: choices a page-load event refreshes arrive late on a busy machine, and Enter before then picks
    nothing. `listed=False` is for a dropdown that takes typed values (allow_custom_value)."""
    box = page.locator(f"#{elem_id} input")
    box.fill(value)
    if listed:
        expect(page.get_by_role("option", name=value, exact=True)).to_be_visible(timeout=timeout_ms)
    box.press("Enter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningStudio:
    url: str
    log_path: Path  # what `python app.py` printed (stdout and stderr)


@contextlib.contextmanager
def running_studio(
    workspace: Path, pretrained_dir: Path, timeout_s: float = 120.0, extra_args: Sequence[str] = ()
) -> Iterator[RunningStudio]:
    """Run `python app.py [extra_args]` on a free port; yield its URL and log; stop it afterwards."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log_path = workspace.parent / f"studio_{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "app.py",
                "--port",
                str(port),
                "--workspace",
                str(workspace),
                "--pretrained",
                str(pretrained_dir),
                *extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the studio exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"the studio did not start in {timeout_s:.0f} s")
                    time.sleep(0.5)
            yield RunningStudio(url, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
