"""``sdhub scan/ls/show/prompt/place`` through the real command line, JSON and human."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sdhub.models.kinds import Kind
from support import library as libsupport
from support.cli import json_lines, run_sdhub
from support.library import GeneratedLibrary

small_library_template = libsupport.small_library_template
small_webui = libsupport.small_webui

ASSET_FIELDS = {
    "path", "kind", "base", "format", "size", "hashes", "safety", "details", "warnings",
    "error", "name", "trigger_words", "weight", "source", "render",
}  # fmt: skip


def sdhub(*args: str, library: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if library is not None:
        env["SDHUB_LIBRARY"] = str(library)
    return run_sdhub(*args, env=env)


lines = json_lines


@pytest.fixture
def scanned(small_webui: GeneratedLibrary) -> GeneratedLibrary:
    """A library of this test's own, scanned by the command line into this test's catalog."""
    out = sdhub("scan", "--json", library=small_webui.root)
    assert out.returncode == 1, out.stderr  # the library holds invalid and dangerous files
    return small_webui


@pytest.fixture(scope="module")
def _shared_catalog(
    small_library_template: GeneratedLibrary, tmp_path_factory: pytest.TempPathFactory
) -> tuple[GeneratedLibrary, Path]:
    from sdhub.catalog import open_catalog, open_library, scan_library

    folder = tmp_path_factory.mktemp("shared")
    lib = small_library_template.copy_to(folder / "webui")
    db = folder / "catalog.db"
    with open_catalog(f"sqlite:///{db}") as catalog:
        scan_library(catalog, library=open_library(lib.root))
    return lib, db


@pytest.fixture
def catalogued(
    _shared_catalog: tuple[GeneratedLibrary, Path], sdhub_home: Path
) -> GeneratedLibrary:
    """A scanned library shared by the tests that only read (its catalog copied per test)."""
    lib, db = _shared_catalog
    shutil.copy2(db, sdhub_home / "catalog.db")
    return lib


def test_scan_json_reports_every_file_then_a_summary(small_webui: GeneratedLibrary) -> None:
    lib = small_webui
    out = sdhub("scan", "--json", library=lib.root)
    assert out.returncode == 1, out.stderr
    records = lines(out)
    *files, summary = records
    assert summary["event"] == "summary"
    assert {r["event"] for r in files} == {"new"}
    assert {r["path"] for r in files} == {str(f.path) for f in lib.files}
    assert set(files[0]) >= ASSET_FIELDS
    assert summary["new"] == summary["files"] == len(lib.files)
    assert {m["path"] for m in summary["misplaced"]} == {str(f.path) for f in lib.misplaced()}
    problems = {(p["path"], p["problem"]) for p in summary["problems"]}
    assert {(str(f.path), "dangerous") for f in lib.files if f.dangerous} <= problems
    assert all(len(g) >= 2 for g in summary["duplicates"]) and summary["duplicates"]

    again = sdhub("scan", "--json", library=lib.root)
    (only,) = lines(again)
    assert only["event"] == "summary" and only["unchanged"] == len(lib.files)
    assert only["inspected"] == 0
    every = lines(sdhub("scan", "--json", "--all", library=lib.root))
    assert sum(r["event"] == "unchanged" for r in every) == len(lib.files)


def test_scan_human_summary(small_webui: GeneratedLibrary) -> None:
    out = sdhub("scan", str(small_webui.root))
    assert out.returncode == 1
    assert f"Scanned {len(small_webui.files)} file(s)" in out.stdout
    for heading in ("Duplicates", "Misplaced", "Problems"):
        assert heading in out.stdout
    assert "evil-merge.ckpt" in out.stdout
    again = sdhub("scan", str(small_webui.root))
    assert f"{len(small_webui.files)} unchanged" in again.stdout


def test_scan_without_a_library_is_a_usage_error() -> None:
    out = sdhub("scan")
    assert out.returncode == 2
    assert "SDHUB_LIBRARY" in out.stderr


def test_ls_filters_and_prints(catalogued: GeneratedLibrary) -> None:
    everything = lines(sdhub("ls", "--json"))
    assert len(everything) == len(catalogued.files)
    loras = lines(sdhub("ls", "--json", "--kind", "lora"))
    assert loras and {a["kind"] for a in loras} == {"lora"}
    assert len(loras) == len(catalogued.of_kind(Kind.LORA))
    sd1 = lines(sdhub("ls", "--json", "--kind", "lora", "--base", "sd1"))
    assert sd1 and all(a["base"] == "sd1" for a in sd1)

    target = next(f for f in catalogued.models() if f.a1111_words and f.kind is Kind.LORA)
    word = target.a1111_words[1]  # "style N"
    by_word = lines(sdhub("ls", "--json", "--query", word))
    assert str(target.path) in {a["path"] for a in by_word}
    assert all(any(word in w for w in a["trigger_words"]) for a in by_word)
    by_hash = lines(sdhub("ls", "--json", "-q", target.hashes.sha256[:8].lower()))
    assert str(target.path) in {a["path"] for a in by_hash}

    table = sdhub("ls", "--kind", "lora")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header[:5] == ["name", "kind", "base", "size", "weight"]
    assert target.name in table.stdout
    assert sdhub("ls", "--kind", "nonsense").returncode == 2


def test_show_resolves_every_ref_form(catalogued: GeneratedLibrary) -> None:
    f = next(f for f in catalogued.models() if f.civitai_version_id and f.kind is Kind.LORA)
    h = f.hashes
    refs = [str(f.path), f.name, h.sha256.lower(), h.autov2.lower()]
    if f.format.value == "safetensors":
        refs.append(h.autov3)
    for ref in refs:
        out = sdhub("show", ref, "--json")
        assert out.returncode == 0, (ref, out.stderr)
        (asset,) = lines(out)
        assert asset["path"] == str(f.path), ref
    assert set(asset) >= ASSET_FIELDS
    assert asset["hashes"]["sha256"] == h.sha256
    assert set(asset["weight"]) == {"default", "min", "max", "source"}
    assert asset["source"]["site"] == "civitai"
    assert asset["source"]["version_id"] == f.civitai_version_id
    assert asset["source"]["url"].endswith(f"modelVersionId={f.civitai_version_id}")

    human = sdhub("show", f.name)
    assert human.returncode == 0
    for label in ("name", "path", "sha256", "autov2", "weight", "source"):
        assert label in human.stdout

    missing = sdhub("show", "no-such-asset")
    assert missing.returncode == 1 and "no-such-asset" in missing.stderr


def test_ambiguous_names_list_their_candidates(scanned: GeneratedLibrary) -> None:
    lora = next(f for f in scanned.models() if f.kind is Kind.LORA and not f.misplaced)
    twin = lora.path.parent / "twins" / lora.path.name
    twin.parent.mkdir()
    shutil.copy2(lora.path, twin)
    twin.write_bytes(twin.read_bytes()[:-1] + b" ")  # same name, other bytes
    assert sdhub("scan", library=scanned.root).returncode == 1
    out = sdhub("prompt", lora.name)
    assert out.returncode == 2
    assert str(lora.path) in out.stderr and str(twin) in out.stderr
    by_path = sdhub("prompt", str(twin))
    assert by_path.returncode == 0
    assert "also called" in by_path.stderr  # the WebUI cannot tell them apart


def test_prompt_for_each_kind(catalogued: GeneratedLibrary) -> None:
    lora = next(
        f
        for f in catalogued.models()
        if f.kind is Kind.LORA and f.a1111_weight is not None and f.a1111_words
    )
    out = sdhub("prompt", str(lora.path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"<lora:{lora.name}:0.6>, " + ", ".join(lora.a1111_words)
    out = sdhub("prompt", str(lora.path), "--weight", "0.75")
    assert out.stdout.startswith(f"<lora:{lora.name}:0.75>")
    (snippet,) = lines(sdhub("prompt", str(lora.path), "--json"))
    assert snippet["prompt"].startswith(f"<lora:{lora.name}:0.6>") and snippet["weight"] == 0.6

    plain = next(f for f in catalogued.models() if f.kind is Kind.LORA and not f.expected_words)
    (shown,) = lines(sdhub("show", str(plain.path), "--json"))
    hint = shown["trigger_words"]  # at most what the file's own metadata suggests
    assert shown["trigger_words_source"] in (None, "metadata")
    expected = f"<lora:{plain.name}:1>" + "".join(f", {w}" for w in hint)
    assert sdhub("prompt", str(plain.path)).stdout.strip() == expected

    hyper = catalogued.of_kind(Kind.HYPERNETWORK)[0]
    assert sdhub("prompt", str(hyper.path)).stdout.startswith(f"<hypernet:{hyper.name}:1>")

    negative = next(f for f in catalogued.of_kind(Kind.EMBEDDING) if "negative" in (f.recipe or ""))
    assert sdhub("prompt", str(negative.path)).stdout.strip() == f"negative: {negative.name}"
    positive = next(
        f
        for f in catalogued.of_kind(Kind.EMBEDDING)
        if "negative" not in (f.recipe or "") and not f.expected_words
    )
    assert sdhub("prompt", str(positive.path)).stdout.strip() == positive.name
    assert sdhub("prompt", str(positive.path), "-w", "1.2").stdout.strip() == (
        f"({positive.name}:1.2)"
    )

    ckpt = next(f for f in catalogued.of_kind(Kind.CHECKPOINT) if not f.misplaced)
    out = sdhub("prompt", str(ckpt.path)).stdout.strip()
    assert out.startswith(f"Checkpoint: {ckpt.path.name} [{ckpt.hashes.autov2.lower()}]")
    vae = catalogued.of_kind(Kind.VAE)[0]
    assert sdhub("prompt", str(vae.path)).stdout.strip() == f"SD VAE: {vae.path.name}"


def test_place_dry_run_then_for_real(scanned: GeneratedLibrary) -> None:
    plan = sdhub("place", "--dry-run", "--json", library=scanned.root)
    records = lines(plan)
    planned = [r for r in records if r.get("event") == "place" and r["status"] == "planned"]
    assert {r["path"] for r in planned} == {str(f.path) for f in scanned.misplaced()}
    assert all(Path(r["path"]).exists() for r in planned)

    human = sdhub("place", str(scanned.root))
    assert human.returncode == 1  # invalid and dangerous files stay, reported
    assert "moved" in human.stdout and "left" in human.stdout
    assert "dangerous" in human.stdout
    for f in scanned.misplaced():
        assert not f.path.exists()
    after = lines(sdhub("scan", "--json", library=scanned.root))
    assert after[-1]["misplaced"] == []
    again = lines(sdhub("place", "--json", library=scanned.root))
    assert not [r for r in again if r.get("status") in ("planned", "moved")]
