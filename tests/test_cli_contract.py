"""The command line as a script author depends on it (CLI.md): exit statuses, JSON Lines
in CLI.md's words, every REF form, one-line errors, no tokens in any output.

Most runs go through ``sdhub``'s real entry point (:func:`sdhub.tui.cli.main`) in
this process, with real files, a real SQLite catalog and the fake Civitai and
Hub on loopback; a closed pipe needs a child process and gets one.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sdhub.tui.cli import main
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.hub_files import lora_bytes

SECRET = "civitai-secret-key-0123456789"


class Run:
    """What one ``sdhub`` run left: exit status, stdout, stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


@pytest.fixture
def sdhub(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``sdhub(*args, stdin=…)``: the real entry point, in this process."""

    def run(*args: str, stdin: str | None = None) -> Run:
        monkeypatch.setattr(sys, "argv", ["sdhub", *args])
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main()
        out = capsys.readouterr()
        code = exit_.value.code
        assert "Traceback" not in out.err, out.err
        return Run(code if isinstance(code, int) else 1, out.out, out.err)

    return run


@pytest.fixture
def webui(webui_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An A1111 install as ``SDHUB_LIBRARY``, with a LoRA, catalogued."""
    (webui_root / "models/Lora/mystyle.safetensors").write_bytes(lora_bytes(1))
    monkeypatch.setenv("SDHUB_LIBRARY", str(webui_root))
    from sdhub.catalog import open_catalog, open_library, scan_library

    from sdhub.config import load_settings

    with open_catalog(load_settings().db_url) as catalog:
        scan_library(catalog, library=open_library(webui_root))
    return webui_root


@pytest.fixture
def online(civ: FakeCivitai, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDHUB_CIVITAI_URL", civ.base_url)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.base_url)


def test_a_closed_pipe_ends_the_run_quietly_with_0(webui: Path) -> None:
    # `sdhub show NAME | head -1`: rich and click both used to exit 1, "an item failed".
    child = subprocess.Popen(
        [sys.executable, "-m", "sdhub.tui.cli", "show", "mystyle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0, err
    assert err == ""


def test_a_reader_gone_mid_json_is_no_failure(
    webui: Path, sdhub, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr(sys, "argv", ["sdhub", "show", "mystyle", "--json"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0


def test_a_bad_catalog_url_is_one_line_and_exit_2(sdhub, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for url in ("bogus://x", "postgresql://me:hunter22@127.0.0.1:9/db", "no url at all"):
        monkeypatch.setenv("SDHUB_DB_URL", url)
        run = sdhub("ls", "--json")
        assert run.code == 2, (url, run.err)
        assert run.out == "" and len(run.err.strip().splitlines()) == 1
        assert "hunter22" not in run.err


def test_an_unexpected_error_is_one_line_unless_debugging(
    webui: Path, sdhub, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import sdhub.catalog as catalog

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(catalog, "list_assets", broken)
    run = sdhub("ls")
    assert run.code == 1
    assert run.err.strip() == (
        "sdhub: error: unexpected RuntimeError: disk on fire (a bug in sdhub: SDHUB_DEBUG=1 "
        "shows where)"
    )
    monkeypatch.setenv("SDHUB_DEBUG", "1")
    monkeypatch.setattr(sys, "argv", ["sdhub", "ls"])
    with pytest.raises(RuntimeError):
        main()


def test_malformed_refs_and_values_are_usage_errors(
    webui: Path, online: None, civ: FakeCivitai, sdhub
) -> None:  # type: ignore[no-untyped-def]
    model = civ.add_model("Ink")
    civ.add_file(civ.add_version(model), "ink.safetensors", lora_bytes(2))
    # A bad REF among good ones stops `get` before anything is fetched.
    run = sdhub("get", f"civitai:{model.id}", "not a ref", "--json")
    assert run.code == 2 and run.out == ""
    assert "'not a ref'" in run.err and len(run.err.strip().splitlines()) == 1
    assert civ.count("/api/download/") == 0
    assert sdhub("get", "civitai:12@").code == 2
    for args in (
        ("show", "civitai:abc"),
        ("show", ""),
        ("prompt", "hf:nothing"),
        ("render", "civitai:x1", "--json"),
        ("enrich", "civitai:"),
        ("enrich", "mystyle", "--civitai", "bogus"),
        ("prompt", "mystyle", "--weight", "nan"),
    ):
        run = sdhub(*args)
        assert run.code == 2, (args, run.err)
        assert run.out == "", args
    # Enum values in any case (Civitai writes LORA, people SDXL); a wrong one exits 2.
    lines = sdhub("ls", "--kind", "LoRA", "--base", "SD1", "--json").records()
    assert [r["name"] for r in lines] == ["mystyle"]
    assert sdhub("ls", "--kind", "lycoris").code == 2


def test_every_remote_ref_form_names_the_file_it_fetched(
    webui: Path, online: None, civ: FakeCivitai, fake_hub: FakeHub, sdhub, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    model = civ.add_model("Ink Wash", type="LORA")
    v1 = civ.add_version(model, name="v1", trained_words=["inkwash"])
    civ.add_file(v1, "inkwash.safetensors", lora_bytes(3))
    v2 = civ.add_version(model, name="v2", trained_words=["inkwash"])
    civ.add_file(v2, "inkwash_v2.safetensors", lora_bytes(4))
    fake_hub.add_repo("acme/pack", {"styles/hf-ink.safetensors": lora_bytes(5)}, commit="c" * 40)
    got = sdhub("get", f"civitai:{model.id}@{v1.id}", "hf:acme/pack/styles/hf-ink.safetensors")
    assert got.code == 0, got.err

    fetched = str(webui / "models/Lora/inkwash.safetensors")
    base = civ.base_url
    for ref in (
        f"civitai:{model.id}@{v1.id}",
        f"civitai:{model.id}",
        f"{base}/models/{model.id}",
        f"https://civitai.com/models/{model.id}/ink-wash?modelVersionId={v1.id}",
        f"{base}/api/download/models/{v1.id}",
    ):
        run = sdhub("show", ref, "--json")
        assert run.code == 0, (ref, run.err)
        assert run.records()[0]["path"] == fetched, ref
    hf_file = str(webui / "models/Lora/hf-ink.safetensors")
    for ref in (
        "hf:acme/pack",
        "hf:acme/pack/styles/hf-ink.safetensors",
        "hf:acme/pack/styles/hf-ink.safetensors@main",
        "https://huggingface.co/acme/pack/blob/main/styles/hf-ink.safetensors",
        f"{fake_hub.base_url}/acme/pack/resolve/{'c' * 40}/styles/hf-ink.safetensors",
    ):
        run = sdhub("show", ref, "--json")
        assert run.code == 0, (ref, run.err)
        assert run.records()[0]["path"] == hf_file, ref
    prompt = sdhub("prompt", f"civitai:{model.id}@{v1.id}")
    assert prompt.out.strip() == "<lora:inkwash:1>, inkwash"
    missing = sdhub("show", f"civitai:{model.id}@{v2.id}")
    assert missing.code == 1 and f"civitai:{model.id}@{v2.id}" in missing.err

    # A REF is what people copy: never folded, even on a narrow terminal.
    monkeypatch.setenv("COLUMNS", "40")
    updates = sdhub("updates")
    assert any(
        line.rstrip().endswith(f"civitai:{model.id}@{v2.id}") for line in updates.out.splitlines()
    ), updates.out


def test_a_skipped_get_still_says_what_the_file_is(
    webui: Path, online: None, civ: FakeCivitai, sdhub
) -> None:  # type: ignore[no-untyped-def]
    model = civ.add_model("Mine")
    civ.add_file(civ.add_version(model), "mine.safetensors", lora_bytes(1))  # = mystyle
    (record,) = sdhub("get", f"civitai:{model.id}", "--json").records()
    assert record["status"] == "skipped"
    assert record["kind"] == "lora" and record["base"] == "sd1"
    assert record["hashes"]["sha256"] == record["hashes"]["sha256"].upper()


def test_search_hits_speak_cli_vocabulary(online: None, civ: FakeCivitai, sdhub) -> None:  # type: ignore[no-untyped-def]
    model = civ.add_model("Neon XL", type="LORA")
    civ.add_file(civ.add_version(model, base_model="SDXL 1.0"), "neon.safetensors", b"x" * 64)
    (hit,) = sdhub("search", "neon", "--json").records()
    assert hit["kind"] == "lora" and hit["base"] == "sdxl" and hit["base_model"] == "SDXL 1.0"
    assert hit["versions"][0]["base"] == "sdxl"


def test_tokens_never_reach_any_output(
    webui: Path, online: None, civ: FakeCivitai, sdhub, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVITAI_TOKEN", SECRET)
    model = civ.add_model("Keyed")
    version = civ.add_version(model)
    civ.add_file(version, "keyed.safetensors", lora_bytes(6))
    pasted = f"{civ.base_url}/api/download/models/{version.id}?token={SECRET}"
    gone = f"{civ.base_url}/api/download/models/999999?token={SECRET}"
    runs = [
        sdhub("get", "--dry-run", pasted, "--json"),
        sdhub("get", "--dry-run", pasted),
        sdhub("get", gone),
        sdhub("sync", "-", "--json", stdin=f"{gone}\n{pasted}\n"),
    ]
    for run in runs:
        assert SECRET not in run.out + run.err
    assert "token=***" in runs[1].out
    assert runs[2].code == 1 and "999999" in runs[2].err
    assert {r["status"] for r in runs[3].records()} == {"failed", "downloaded"}


def test_an_empty_list_is_nothing_to_do(webui: Path, online: None, sdhub) -> None:  # type: ignore[no-untyped-def]
    # `sdhub updates --json | jq -r .ref | sdhub sync -` when there are no updates.
    run = sdhub("sync", "-", "--json", stdin="# nothing new\n\n")
    assert run.code == 0 and run.out == ""
    assert "nothing to do" in run.err


def test_every_failed_ref_gets_its_own_json_line(webui: Path, online: None, sdhub) -> None:  # type: ignore[no-untyped-def]
    enrich = sdhub("enrich", "no-such-file", "--json")
    assert enrich.code == 1
    assert enrich.records() == [
        {
            "ref": "no-such-file",
            "path": None,
            "status": "failed",
            "error": enrich.records()[0]["error"],
        }
    ]
    assert "no-such-file" in enrich.records()[0]["error"]
    render = sdhub("render", "no-such-file", "--json")
    assert render.code == 1
    (record,) = render.records()
    assert record["asset"] == {"name": "no-such-file", "kind": None, "path": None}
    assert record["verdict"] == "error" and "no-such-file" in record["message"]
    assert set(record) == {"asset", "base", "verdict", "grid", "images", "seconds", "message"}
    assert sdhub("prompt", "mystyle", "--weight", "0.5", "--json").records()[0]["weight"] == 0.5


def test_people_output_in_a_pipe_never_wraps(
    webui: Path, sdhub, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("COLUMNS", raising=False)  # only an exported COLUMNS sets a width
    path = str(webui / "models/Lora/mystyle.safetensors")
    shown = sdhub("show", "mystyle").out.splitlines()
    assert any(line.split() == ["path", path] for line in shown), shown
    listed = sdhub("ls").out.splitlines()
    assert listed[1].split()[:3] == ["mystyle", "lora", "sd1"]


def test_identical_copies_are_ambiguous_and_say_how_to_pick(webui: Path, sdhub) -> None:  # type: ignore[no-untyped-def]
    copy = webui / "models/Lora/old/mystyle.safetensors"
    copy.parent.mkdir()
    copy.write_bytes(lora_bytes(1))
    assert sdhub("scan").code == 0
    autov2 = sdhub("show", str(copy), "--json").records()[0]["hashes"]["autov2"]
    for ref in ("mystyle", autov2.lower()):
        run = sdhub("show", ref)
        assert run.code == 2
        first, *candidates = run.err.strip().splitlines()
        assert first.startswith(f"sdhub: error: '{ref}' matches 2 assets")
        assert sorted(c.split("candidate: ")[1] for c in candidates) == sorted(
            [str(copy), str(webui / "models/Lora/mystyle.safetensors")]
        )
    assert "identical copies: use a path" in sdhub("show", autov2).err
