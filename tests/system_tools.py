"""The system programs the tests drive, and how a test run gets them.

`python -m pytest` is the whole test command: on a Debian or Ubuntu machine where it runs as root (or with
password-less sudo) it installs what is missing with apt-get; anywhere else it stops with one line naming the
packages to install. The studio itself needs none of these.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def _on_path(*names: str) -> Callable[[], bool]:
    return lambda: any(shutil.which(name) for name in names)


@dataclass(frozen=True)
class SystemTool:
    name: str  # what the user is told is missing
    debian_packages: tuple[str, ...]
    present: Callable[[], bool]


SYSTEM_TOOLS = (
    SystemTool("chromium (browser tests)", ("chromium",), _on_path("chromium", "chromium-browser")),
    SystemTool("espeak-ng (test speech)", ("espeak-ng",), _on_path("espeak-ng")),
    SystemTool("sox (test audio)", ("sox", "libsox-fmt-all"), _on_path("sox")),
    SystemTool("ffmpeg (MP3/Opus)", ("ffmpeg",), _on_path("ffmpeg")),
    SystemTool("redis-server (the queue on Redis)", ("redis-server",), _on_path("redis-server")),
    SystemTool("CJK fonts (Chinese in the browser)", ("fontconfig", "fonts-noto-cjk"), _has_cjk_font),
)


def missing_tools() -> list[SystemTool]:
    return [tool for tool in SYSTEM_TOOLS if not tool.present()]


def _apt_prefix() -> list[str] | None:
    """How to run apt-get with root rights here, or None when this machine cannot."""
    if not sys.platform.startswith("linux") or shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def ensure_system_tools() -> None:
    """Install missing system tools with apt-get, or end the test run with one line saying what to install."""
    missing = missing_tools()
    if not missing:
        return
    packages = sorted({package for tool in missing for package in tool.debian_packages})
    names = ", ".join(tool.name for tool in missing)
    prefix = _apt_prefix()
    if prefix is None:
        pytest.exit(
            f"the tests need {names}: install the packages {' '.join(packages)} "
            "(Debian/Ubuntu: apt-get install; macOS: brew install), then run the tests again",
            returncode=3,
        )
    print(f"\ninstalling system packages the tests need ({names}): {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        [*prefix, "apt-get", "update", "-qq"],
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ]
    for command in steps:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.exit(f"`{' '.join(command)}` failed ({last[0]}); install {' '.join(packages)} by hand", 3)
    still = missing_tools()
    if still:
        pytest.exit(f"still missing after apt-get: {', '.join(tool.name for tool in still)}", returncode=3)
