"""`sdhub info` as scripts use it: JSON Lines, exit codes, one bad file never stops the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.inspect_samples import reference_hashes, write_sd1_lora, write_torch_embedding


def sdhub(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdhub.tui.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_good_files_exit_0_with_one_json_line_each(tmp_path: Path) -> None:
    lora = write_sd1_lora(tmp_path / "style.safetensors")
    emb = write_torch_embedding(tmp_path / "emb.pt")
    out = sdhub("info", "--json", lora, emb)
    records = json_lines(out.stdout)
    assert [r["path"] for r in records] == [str(lora), str(emb)]
    assert records[0]["hashes"] == reference_hashes(lora)
    assert records[1]["hashes"] == reference_hashes(emb)
    assert records[0]["format"] == "safetensors" and records[1]["format"] == "torch-zip"
    assert out.returncode == 0, out.stdout + out.stderr
    assert [r["kind"] for r in records] == ["lora", "embedding"]


def test_bad_files_are_reported_and_do_not_stop_good_ones(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(3000))
    good = write_sd1_lora(tmp_path / "good.safetensors")
    missing = tmp_path / "missing.ckpt"
    out = sdhub("info", "--json", garbage, missing, good)
    assert out.returncode == 1
    records = json_lines(out.stdout)
    assert [r["path"] for r in records] == [str(garbage), str(missing), str(good)]
    assert records[0]["kind"] == "invalid" and records[0]["error"]
    assert records[1]["kind"] == "invalid" and records[1]["error"] == "no such file"
    assert records[2]["hashes"]["sha256"] == reference_hashes(good)["sha256"]
    assert "Traceback" not in out.stderr


def test_directories_are_walked_for_model_files(tmp_path: Path) -> None:
    lib = tmp_path / "models"
    (lib / "Lora" / "sub").mkdir(parents=True)
    a = write_sd1_lora(lib / "Lora" / "a.safetensors")
    b = write_sd1_lora(lib / "Lora" / "sub" / "B.SAFETENSORS")
    (lib / "Lora" / "a.json").write_text("{}")
    (lib / "Lora" / "a.preview.png").write_bytes(b"\x89PNG")
    out = sdhub("info", "--json", "--no-hash", lib)
    records = json_lines(out.stdout)
    assert sorted(r["path"] for r in records) == sorted([str(a), str(b)])
    assert all(r["hashes"] is None for r in records)


def test_empty_directory_warns_on_stderr(tmp_path: Path) -> None:
    out = sdhub("info", "--json", tmp_path)
    assert out.stdout == ""
    assert "no model files" in out.stderr


def test_human_output_in_a_pipe_is_plain_text(tmp_path: Path) -> None:
    lora = write_sd1_lora(tmp_path / "style.safetensors")
    out = sdhub("info", lora)
    sha = reference_hashes(lora)["sha256"]
    assert "style.safetensors" in out.stdout
    assert sha in out.stdout
    assert "safe" in out.stdout
    assert "\x1b[" not in out.stdout  # no colour codes in a pipe


def test_human_output_shows_errors(tmp_path: Path) -> None:
    out = sdhub("info", tmp_path / "missing.safetensors")
    assert out.returncode == 1
    assert "invalid" in out.stdout and "no such file" in out.stdout


def test_no_path_is_a_usage_error() -> None:
    out = sdhub("info")
    assert out.returncode == 2
    assert out.stdout == ""


def test_info_json_stays_lean(tmp_path: Path) -> None:
    """The hash benchmark times the whole process: no UI, database or torch imports."""
    lora = write_sd1_lora(tmp_path / "style.safetensors")
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sdhub.tui.cli", "info", "--json", str(lora)],
        capture_output=True,
        text=True,
        check=False,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    tops = {name.split(".")[0] for name in imported}
    heavy = {
        "textual",
        "sqlmodel",
        "sqlalchemy",
        "torch",
        "diffusers",
        "transformers",
        "rich",
        "numpy",
        "huggingface_hub",
        "requests",
    }
    assert not (tops & heavy), sorted(tops & heavy)
    assert len(json_lines(out.stdout)) == 1
