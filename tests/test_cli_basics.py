"""The command line answers the basics a script relies on."""

from __future__ import annotations

import subprocess
import sys


def run_sdhub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdhub.tui.cli", *args], capture_output=True, text=True, check=False
    )


def test_version_and_help() -> None:
    out = run_sdhub("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("sdhub ")
    help_ = run_sdhub("--help")
    assert help_.returncode == 0
    for command in ("info", "scan", "get", "sync", "render", "demo"):
        assert command in help_.stdout


def test_unknown_command_is_a_usage_error() -> None:
    out = run_sdhub("frobnicate")
    assert out.returncode == 2
    assert "frobnicate" in out.stderr
