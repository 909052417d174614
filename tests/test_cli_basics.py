"""The command line answers the basics a script relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sdhub.models.writers import TensorData, write_safetensors
from sdhub.tui.cli import COMMANDS


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


def test_a_command_loads_only_its_own_module(tmp_path: Path) -> None:
    # Start-up counts in the hash benchmark: `sdhub info` must not pay for `sdhub get`.
    path = tmp_path / "w.safetensors"
    write_safetensors(path, {"w": TensorData((4,))})
    code = (
        "import sys\n"
        "from sdhub.tui.cli import cli\n"
        "try:\n"
        f"    cli(['info', '--json', '--no-hash', {str(path)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if '.commands' in m), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-1] == str(
        ["sdhub.tui.commands", "sdhub.tui.commands.info"]
    )
    assert '"kind": "other"' in out.stdout


def test_help_still_lists_every_command_with_its_summary() -> None:
    help_ = run_sdhub("--help").stdout
    for name in COMMANDS:
        line = next((ln for ln in help_.splitlines() if ln.strip().startswith(name + " ")), "")
        assert line.split(maxsplit=1)[1:], f"{name} has no one-line help in:\n{help_}"


@pytest.mark.parametrize("module", sorted({module for module, _ in COMMANDS.values()}))
def test_command_modules_import_only_click(module: str) -> None:
    code = (
        "import sys; before = set(sys.modules); "
        f"import sdhub.tui.commands.{module}; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in eval(out.stdout)}  # a printed list of str
    ours = {n for n in eval(out.stdout) if n.startswith("sdhub.")}
    assert ours <= {"sdhub.tui", "sdhub.tui.commands", f"sdhub.tui.commands.{module}"} | {
        "sdhub.tui.commands.get"  # sync shares get's REF_HELP text
    }, ours
    assert not loaded & {"rich", "textual", "sqlalchemy", "sqlmodel", "torch", "requests"}
