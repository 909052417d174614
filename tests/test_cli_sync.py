"""``sdhub search/get/sync/enrich/updates`` through the real command line.

Each command runs in a child process against fake Civitai and Hub servers
on 127.0.0.1 (``SDHUB_CIVITAI_URL``, ``HF_ENDPOINT``), a real library folder
(``SDHUB_LIBRARY``) and the test's own ``SDHUB_HOME`` catalog.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sdhub.catalog import open_catalog, open_library, scan_library
from sdhub.models.layouts import Layout
from support.cli import json_lines, run_sdhub
from support.fake_civitai import TOKEN, FakeCivitai
from support.fake_hub import HF_TOKEN, FakeHub
from support.hub_files import checkpoint_bytes, lora_bytes

from sdhub.config import load_settings


@pytest.fixture
def webui(webui_root: Path) -> Path:
    """The WebUI folder ``SDHUB_LIBRARY`` names (:func:`support.hub_env.webui_root`)."""
    return webui_root


def env_for(civ: FakeCivitai | None, webui: Path | None, **extra: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE", None)
    if civ is not None:
        env["SDHUB_CIVITAI_URL"] = civ.base_url
    if webui is not None:
        env["SDHUB_LIBRARY"] = str(webui)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def sdhub(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return run_sdhub(*args, env=env, stdin=stdin, timeout=180)


records = json_lines


def lora(civ: FakeCivitai, name: str, seed: int, **version_fields):  # type: ignore[no-untyped-def]
    model = civ.add_model(name.title(), type="LORA")
    version = civ.add_version(model, trained_words=[name], **version_fields)
    civ.add_file(version, f"{name}.safetensors", lora_bytes(seed))
    return model, version


def test_sync_a_list_with_good_and_bad_lines_then_again(civ, webui, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ink, _ = lora(civ, "ink", 1)
    wash, wash_v = lora(civ, "wash", 2)
    styled, _ = lora(civ, "styled", 3)
    members, _ = lora(civ, "members", 4, login_required=True)
    listing = tmp_path / "list.txt"
    listing.write_text(
        "\n".join(
            [
                "# my LoRAs",
                f"civitai:{ink.id}",
                f"{civ.base_url}/models/{wash.id}?modelVersionId={wash_v.id}  # wash",
                "",
                f"civitai:{styled.id} -> models/Lora/styles",
                "this is not a reference",
                f"civitai:{members.id}",
                "civitai:424242",
            ]
        )
        + "\n"
    )
    env = env_for(civ, webui)
    out = sdhub("sync", str(listing), "--jobs", "3", "--json", env=env)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    got = {r["ref"]: r for r in records(out)}
    assert len(got) == 6
    assert got[f"civitai:{ink.id}"]["status"] == "downloaded"
    assert got[f"civitai:{ink.id}"]["kind"] == "lora"
    assert got[f"civitai:{ink.id}"]["source"]["model_id"] == ink.id
    assert got[f"civitai:{styled.id}"]["path"] == str(
        webui / "models/Lora/styles/styled.safetensors"
    )
    bad = got["this is not a reference"]
    assert bad["status"] == "failed" and bad["where"] == "list.txt:6"
    assert "login required" in got[f"civitai:{members.id}"]["error"]
    assert "CIVITAI_TOKEN" in got[f"civitai:{members.id}"]["error"]
    assert got["civitai:424242"]["where"] == "list.txt:8"
    assert (webui / "models/Lora/wash.safetensors").read_bytes() == lora_bytes(2)
    assert (webui / "models/Lora/ink.civitai.info").is_file()

    fetched = civ.count("/files/")
    again = sdhub("sync", str(listing), env=env_for(civ, webui, CIVITAI_TOKEN=TOKEN))
    assert again.returncode == 1  # the bad lines are still bad
    assert civ.count("/files/") == fetched + 1  # only the members-only file, now with a token
    assert again.stdout.count("skipped") == 3
    assert "list.txt:6" in again.stderr and "list.txt:8" in again.stderr


def test_get_every_form_on_the_command_line_and_dry_run(civ, webui) -> None:  # type: ignore[no-untyped-def]
    ink, ink_v = lora(civ, "ink", 11)
    ckpt = civ.add_model("Base", type="Checkpoint")
    ckpt_v = civ.add_version(ckpt)
    civ.add_file(ckpt_v, "base.safetensors", checkpoint_bytes(12))
    env = env_for(civ, webui)
    url = f"{civ.base_url}/api/download/models/{ckpt_v.id}"
    planned = sdhub("get", "--dry-run", url, f"civitai:{ink.id}@{ink_v.id}", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "would get" in planned.stdout and "models/Stable-diffusion" in planned.stdout
    assert not list(webui.rglob("*.safetensors"))

    out = sdhub("get", url, f"civitai:{ink.id}@{ink_v.id}", env=env)
    assert out.returncode == 0, out.stderr
    assert f"downloaded {url} → models/Stable-diffusion/base.safetensors" in out.stdout
    assert "models/Lora/ink.safetensors (lora, sd1" in out.stdout
    show = sdhub("show", "ink", "--json", env=env)
    asset = json.loads(show.stdout)
    assert asset["trigger_words"] == ["ink"]
    assert asset["source"]["version_id"] == ink_v.id


def test_a_library_must_be_configured(civ) -> None:  # type: ignore[no-untyped-def]
    out = sdhub("get", "civitai:1", env=env_for(civ, None, SDHUB_LIBRARY=None))
    assert out.returncode == 2
    assert "set SDHUB_LIBRARY" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_enrich_updates_and_search(civ, webui) -> None:  # type: ignore[no-untyped-def]
    (webui / "models/Lora/ink.safetensors").write_bytes(lora_bytes(21))
    (webui / "models/Lora/mine.safetensors").write_bytes(lora_bytes(22))
    model, _ = civ.add_model("Ink", type="LORA", downloads=50), None
    v1 = civ.add_version(model, name="v1", trained_words=["inkword"])
    civ.add_file(v1, "ink.safetensors", lora_bytes(21))
    v2 = civ.add_version(model, name="v2", trained_words=["inkword"])
    civ.add_file(v2, "ink_v2.safetensors", lora_bytes(23))
    other = civ.add_model("Other Thing", type="Checkpoint", downloads=5)
    civ.add_file(civ.add_version(other), "other.safetensors", checkpoint_bytes(24))
    fixed, fixed_v = lora(civ, "fixed", 99)
    settings = load_settings()
    with open_catalog(settings.db_url) as catalog:
        scan_library(catalog, [webui], library=open_library(webui, Layout.A1111))
    env = env_for(civ, webui)

    enriched = sdhub("enrich", "--all", "--json", env=env)
    assert enriched.returncode == 0, enriched.stderr
    status = {Path(r["path"]).name: r for r in records(enriched)}
    assert status["ink.safetensors"]["status"] == "found"
    assert status["ink.safetensors"]["trigger_words"] == ["inkword"]
    assert status["mine.safetensors"]["status"] == "not-found"

    linked = sdhub("enrich", "mine", "--civitai", f"{fixed.id}@{fixed_v.id}", "--json", env=env)
    assert linked.returncode == 0, linked.stderr
    (record,) = records(linked)
    assert record["status"] == "linked" and record["source"]["version_id"] == fixed_v.id

    updates = sdhub("updates", "--json", env=env)
    assert updates.returncode == 0, updates.stderr
    (update,) = records(updates)
    assert update["name"] == "ink" and update["ref"] == f"civitai:{model.id}@{v2.id}"
    human = sdhub("updates", env=env)
    assert f"civitai:{model.id}@{v2.id}" in human.stdout

    found = sdhub("search", "ink", "--json", env=env)
    assert found.returncode == 0, found.stderr
    (hit,) = records(found)
    assert hit["ref"] == f"civitai:{model.id}@{v2.id}" and hit["kind"] == "lora"
    assert hit["downloads"] == 50 and hit["creator"] == "someone"
    table = sdhub("search", "--kind", "checkpoint", env=env)
    assert "Other Thing" in table.stdout and "Ink" not in table.stdout


def test_ctrl_c_keeps_the_part_and_the_next_run_resumes(civ, webui, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = checkpoint_bytes(31, extra_kib=4096)
    model = civ.add_model("Slow", type="Checkpoint")
    civ.add_file(civ.add_version(model), "slow.safetensors", data)
    civ.chunk_delay = 0.02  # 64 KiB every 20 ms: minutes for the whole file
    env = env_for(civ, webui)
    child = subprocess.Popen(
        [sys.executable, "-m", "sdhub.tui.cli", "get", f"civitai:{model.id}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folder = webui / "models/Stable-diffusion"
    deadline = time.monotonic() + 60
    try:
        while not any(p.stat().st_size > 200_000 for p in folder.glob("*.part")):
            assert time.monotonic() < deadline, "the download never started"
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    (part,) = folder.glob("*.part")
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    assert not (folder / "slow.safetensors").exists()

    civ.chunk_delay = 0.0
    civ.clear_requests()
    out = sdhub("get", f"civitai:{model.id}", "--json", env=env)
    assert out.returncode == 0, out.stderr
    (result,) = records(out)
    assert result["status"] == "downloaded" and result["resumed_from"] >= kept // 2
    assert (folder / "slow.safetensors").read_bytes() == data
    assert civ.requests_to("/files/")[0].header("Range") == f"bytes={result['resumed_from']}-"


def test_hugging_face_get_through_hf_endpoint(webui, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeHub(tokens={HF_TOKEN}) as hub:
        hub.add_repo("acme/ink", {"ink.safetensors": lora_bytes(41), "README.md": b"# ink"})
        hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(42)}, gated="manual")
        env = env_for(None, webui, HF_ENDPOINT=hub.base_url, HF_HUB_DISABLE_XET="1")
        out = sdhub("get", "hf:acme/ink", "hf:acme/gated/g.safetensors", "--json", env=env)
    assert out.returncode == 1
    got = {r["ref"]: r for r in records(out)}
    assert got["hf:acme/ink"]["status"] == "downloaded"
    assert got["hf:acme/ink"]["path"] == str(webui / "models/Lora/ink.safetensors")
    assert got["hf:acme/ink"]["source"]["repo"] == "acme/ink"
    gated = got["hf:acme/gated/g.safetensors"]["error"]
    assert "gated" in gated and "HF_TOKEN" in gated
