"""The Hugging Face client through the real huggingface_hub, against a fake Hub on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.constants
import pytest
from sdhub.hub.download import Downloader, DownloadStatus
from sdhub.hub.errors import (
    AmbiguousReference,
    GatedRepo,
    HashMismatch,
    HubError,
    NotFound,
    PlacementError,
    TransientError,
)
from sdhub.hub.huggingface import (
    HfClient,
    HfFile,
    choose_single_file,
    diffusers_subset,
    single_file_candidates,
)
from sdhub.models.layouts import Layout
from support.fake_hub import HF_TOKEN, FakeHub
from support.http_fake import Failure
from support.hub_files import FAST_RETRY, checkpoint_bytes, embedding_bytes, lora_bytes

from sdhub.config import load_settings


@pytest.fixture
def hub(fake_hub: FakeHub) -> FakeHub:
    """The fake Hub (:func:`support.fake_hub.fake_hub`: huggingface_hub allowed online)."""
    return fake_hub


def client(hub: FakeHub, token: str | None = None, tmp: Path | None = None) -> HfClient:
    return HfClient(hub.base_url, token, cache_dir=tmp)


DIFFUSERS = {
    "model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline"}).encode(),
    "README.md": b"# tiny",
    "v1-5-pruned.safetensors": checkpoint_bytes(9),
    "unet/config.json": b"{}",
    "unet/diffusion_pytorch_model.safetensors": b"U" * 2048,
    "unet/diffusion_pytorch_model.bin": b"B" * 2048,
    "unet/diffusion_pytorch_model.fp16.safetensors": b"H" * 1024,
    "unet/diffusion_flax_model.msgpack": b"F" * 512,
    "text_encoder/config.json": b"{}",
    "text_encoder/model.safetensors": b"T" * 1024,
    "tokenizer/vocab.json": b"{}",
    "tokenizer/merges.txt": b"#",
    "scheduler/scheduler_config.json": b"{}",
    "vae/config.json": b"{}",
    "vae/diffusion_pytorch_model.safetensors": b"V" * 1024,
}


# --- metadata through huggingface_hub ---------------------------------------------------------


def test_search_follows_link_pages_and_stops_at_limit(hub: FakeHub) -> None:
    for i in range(5):
        hub.add_repo(f"acme/lora-{i}", {"a.safetensors": lora_bytes(i)}, downloads=10 - i)
    hub.add_repo("other/thing", {"a.json": b"{}"})
    found = list(client(hub).search("lora", sort="downloads", limit=3))
    assert [r.id for r in found] == ["acme/lora-0", "acme/lora-1", "acme/lora-2"]
    assert found[0].downloads == 10 and found[0].author == "acme"
    # Two pages of two (the fake's page size), never the third.
    assert hub.count("/api/models", method="GET") == 2
    assert hub.requests[-1].param("cursor") == "2"


def test_repo_tree_with_sizes_and_lfs_sha256(hub: FakeHub) -> None:
    data = lora_bytes(3)
    repo = hub.add_repo("acme/ink", {"ink.safetensors": data, "docs/readme.txt": b"hi"})
    files = {f.path: f for f in client(hub).list_files("acme/ink")}
    assert set(files) == {"ink.safetensors", "docs/readme.txt"}
    import hashlib

    assert files["ink.safetensors"].sha256 == hashlib.sha256(data).hexdigest().upper()
    assert files["ink.safetensors"].size == len(data)
    assert files["docs/readme.txt"].sha256 is None  # a plain git file: no LFS hash
    sha = repo.revisions["main"][0]
    assert client(hub).repo("acme/ink").sha == sha
    tree_requests = hub.requests_to("/api/models/acme/ink/tree/")
    assert tree_requests and tree_requests[-1].param("recursive") in ("true", "True")


def test_file_info_from_a_head_request(hub: FakeHub) -> None:
    data = lora_bytes(4)
    repo = hub.add_repo("acme/ink", {"styles/ink.safetensors": data})
    info = client(hub).file_info("acme/ink", "styles/ink.safetensors")
    import hashlib

    assert info.sha256 == hashlib.sha256(data).hexdigest().upper()
    assert info.size == len(data)
    assert info.revision == repo.revisions["main"][0]  # pinned to the commit
    assert hub.count("/acme/ink/resolve/main/styles/ink.safetensors", method="HEAD") == 1
    # A plain git file: the size comes from HEAD's true Content-Length, no SHA256.
    hub.add_repo("acme/cfg", {"config.json": b'{"a": 1}'})
    plain = client(hub).file_info("acme/cfg", "config.json")
    assert plain.size == 8 and plain.sha256 is None and plain.blob_id


def test_errors_say_what_to_do(hub: FakeHub) -> None:
    hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(5)}, gated="auto")
    hub.add_repo("acme/private", {"p.safetensors": lora_bytes(6)}, private=True)
    hub.add_repo("acme/ink", {"ink.safetensors": lora_bytes(7)})
    anon = client(hub)

    with pytest.raises(GatedRepo) as gated:
        anon.file_info("acme/gated", "g.safetensors")
    assert "HF_TOKEN" in str(gated.value) and "accept its terms" in str(gated.value)
    assert f"{hub.base_url}/acme/gated" in str(gated.value)
    with pytest.raises(NotFound) as private:
        anon.repo("acme/private")
    assert "HF_TOKEN" in str(private.value)
    with pytest.raises(NotFound, match="revision"):
        anon.list_files("acme/ink", revision="nope")
    with pytest.raises(NotFound, match="no such file"):
        anon.file_info("acme/ink", "missing.safetensors")
    with pytest.raises(NotFound, match="repository not found"):
        anon.repo("acme/none")

    # With the token, gated and private repos open; the token travels as a Bearer header.
    authed = client(hub, HF_TOKEN)
    assert authed.file_info("acme/gated", "g.safetensors").size == len(lora_bytes(5))
    assert authed.repo("acme/private").private
    assert hub.requests[-1].header("Authorization") == f"Bearer {HF_TOKEN}"
    assert HF_TOKEN not in repr(authed)


def test_settings_feed_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:4321")
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    hf = HfClient.from_settings(load_settings())
    assert hf.endpoint == "http://127.0.0.1:4321" and "hf_from_env" not in repr(hf)
    assert hf.api.endpoint == "http://127.0.0.1:4321"


def test_a_token_saved_by_hf_login_opens_gated_repos(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``hf auth login`` writes $HF_HOME/token; huggingface_hub and so sdhub use it."""
    hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(5)}, gated="auto")
    monkeypatch.setenv("HF_ENDPOINT", hub.base_url)
    # huggingface_hub reads $HF_HOME once, at import: point its token path at ours.
    saved = tmp_path / "hf-home" / "token"
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(saved))
    with pytest.raises(GatedRepo):
        HfClient.from_settings(load_settings()).file_info("acme/gated", "g.safetensors")
    saved.parent.mkdir()
    saved.write_text(HF_TOKEN + "\n")
    hf = HfClient.from_settings(load_settings())
    assert hf.file_info("acme/gated", "g.safetensors").size == len(lora_bytes(5))
    assert HF_TOKEN not in repr(hf)


# --- choosing files ------------------------------------------------------------------------


def _files(*paths: str) -> list[HfFile]:
    return [HfFile("acme/x", p, "main", 1) for p in paths]


def test_choosing_a_single_file() -> None:
    assert choose_single_file(_files("vae.safetensors", "README.md"), "x").path == "vae.safetensors"
    assert (
        choose_single_file(_files("ink.ckpt", "ink.safetensors", "sub/ink.safetensors"), "x").path
        == "ink.safetensors"
    )
    assert (
        choose_single_file(_files("sdxl_vae.safetensors", "sdxl_vae.fp16.safetensors"), "x").path
        == "sdxl_vae.safetensors"
    )
    with pytest.raises(AmbiguousReference) as info:
        choose_single_file(_files("a.safetensors", "b.safetensors"), "hf:acme/x")
    assert info.value.candidates == ["a.safetensors", "b.safetensors"]
    assert "name one" in str(info.value)
    # Diffusers component weights are no single files.
    assert single_file_candidates(_files("unet/diffusion_pytorch_model.safetensors")) == []


def test_diffusers_subset_takes_one_weight_set_per_folder() -> None:
    files = _files(*DIFFUSERS)
    chosen = [f.path for f in diffusers_subset(files)]
    assert chosen == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    fp16 = [f.path for f in diffusers_subset(files, variant="fp16") if f.path.startswith("unet/")]
    assert fp16 == ["unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"]
    vae_only = [f.path for f in diffusers_subset(files, folder="vae")]
    assert vae_only == ["vae/config.json", "vae/diffusion_pytorch_model.safetensors"]


def test_select_single_file_folder_and_whole_repo(hub: FakeHub) -> None:
    hub.add_repo("acme/sd", DIFFUSERS)
    hub.add_repo("acme/vae", {"vae.safetensors": b"x" * 100, "README.md": b"#"})
    hf = client(hub)

    one = hf.select("acme/vae")
    assert not one.snapshot and one.file.path == "vae.safetensors"
    assert one.revision == hub.repos["acme/vae"].revisions["main"][0]
    # A repo with both a single-file checkpoint and diffusers folders: the single file,
    # unless the whole pipeline is asked for.
    assert hf.select("acme/sd").file.path == "v1-5-pruned.safetensors"
    whole = hf.select("acme/sd", whole=True)
    assert whole.snapshot and "unet/diffusion_pytorch_model.safetensors" in [
        f.path for f in whole.files
    ]
    folder = hf.select("acme/sd", "vae")
    assert folder.snapshot and {f.path for f in folder.files} == {
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    }
    exact = hf.select("acme/sd", "unet/diffusion_pytorch_model.safetensors")
    assert not exact.snapshot and exact.file.size == 2048
    with pytest.raises(NotFound):
        hf.select("acme/sd", "nothing/here")


# --- downloads --------------------------------------------------------------------------


@pytest.mark.parametrize("cdn", [False, True], ids=["direct", "cdn-redirect"])
def test_single_file_download_verified_and_placed(hub: FakeHub, tmp_path: Path, cdn: bool) -> None:
    hub.cdn_redirect = cdn
    data = lora_bytes(11)
    hub.add_repo("acme/ink", {"loras/ink.safetensors": data}, gated="auto")
    hf = client(hub, HF_TOKEN)
    selection = hf.select("acme/ink", "loras/ink.safetensors")
    engine = Downloader(tmp_path / "webui", Layout.A1111, retry=FAST_RETRY)

    result = engine.fetch(hf.download_job(selection.file))
    assert result.status is DownloadStatus.DOWNLOADED
    assert result.path == tmp_path / "webui" / "models" / "Lora" / "ink.safetensors"
    assert result.path.read_bytes() == data
    assert result.hashes is not None and result.hashes.sha256 == selection.file.sha256
    assert not list((tmp_path / "webui").rglob("*.part"))
    commit = hub.repos["acme/ink"].revisions["main"][0]
    gets = [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]
    assert gets[-1].path == f"/acme/ink/resolve/{commit}/loras/ink.safetensors"
    assert gets[-1].header("Authorization") == f"Bearer {HF_TOKEN}"
    if cdn:
        cdn_gets = hub.requests_to("/cdn/")
        assert cdn_gets and all(r.header("Authorization") is None for r in cdn_gets)


def test_gated_download_without_token_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(12)}, gated="manual")
    token_client = client(hub, HF_TOKEN)
    file = token_client.select("acme/gated", "g.safetensors").file
    engine = Downloader(tmp_path, Layout.COMFYUI, retry=FAST_RETRY)
    with pytest.raises(GatedRepo) as info:
        engine.fetch(client(hub).download_job(file))
    assert "HF_TOKEN" in str(info.value)
    assert not list(tmp_path.rglob("*.safetensors*"))


def test_download_resumes_after_a_dropped_connection(hub: FakeHub, tmp_path: Path) -> None:
    data = embedding_bytes(1, vectors=40)
    hub.add_repo("acme/emb", {"emb.safetensors": data})
    hf = client(hub)
    file = hf.select("acme/emb", "emb.safetensors").file
    hub.fail("/acme/emb/resolve/", Failure.DROP, after_bytes=20000, method="GET")
    engine = Downloader(tmp_path, Layout.A1111, retry=FAST_RETRY)
    result = engine.fetch(hf.download_job(file))
    assert result.path == tmp_path / "embeddings" / "emb.safetensors"
    assert result.path.read_bytes() == data
    ranged = [r for r in hub.requests_to("/acme/emb/resolve/") if r.header("Range")]
    assert [r.header("Range") for r in ranged] == ["bytes=20000-"]


def test_snapshot_of_a_diffusers_folder(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("acme/sd", DIFFUSERS)
    hf = client(hub, tmp=tmp_path / "cache")
    selection = hf.select("acme/sd", whole=True)
    dest = tmp_path / "webui" / "models" / "diffusers" / "sd"

    assert hf.snapshot(selection, dest) == dest
    assert (dest / "model_index.json").is_file()
    assert (dest / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == b"U" * 2048
    assert not (dest / "unet" / "diffusion_pytorch_model.bin").exists()
    assert not (dest / "unet" / "diffusion_flax_model.msgpack").exists()
    assert not (dest / "v1-5-pruned.safetensors").exists()
    assert not (dest / ".cache").exists()
    assert not dest.with_name("sd.part").exists()
    with pytest.raises(PlacementError, match="already exists"):
        hf.snapshot(selection, dest)


def test_snapshot_refuses_bytes_that_differ_from_the_lfs_hash(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("acme/sd", DIFFUSERS)
    hf = client(hub, tmp=tmp_path / "cache")
    selection = hf.select("acme/sd", "vae")
    # The Hub's file changes under the same commit: the published SHA256 no longer matches.
    files = hub.repos["acme/sd"].revisions["main"][1]
    files["vae/diffusion_pytorch_model.safetensors"].data = b"W" * 1024
    dest = tmp_path / "vae"
    with pytest.raises(HashMismatch):
        hf.snapshot(selection, dest)
    assert not dest.exists()


# --- what the real Hub does that a kind fake would not ---------------------------------------


def test_a_token_without_access_to_a_gated_repo_is_told_to_request_it(
    hub: FakeHub, tmp_path: Path
) -> None:
    """The Hub answers 403 (not 401) when it knows the account but has not granted access."""
    hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(21)}, gated="manual", granted=set())
    hf = client(hub, HF_TOKEN)
    with pytest.raises(GatedRepo) as head:
        hf.file_info("acme/gated", "g.safetensors")
    assert head.value.status == 403 and "request access" in str(head.value)
    assert "then set HF_TOKEN" not in str(head.value)
    file = hf.list_files("acme/gated")[0]  # the file list of a gated repo is public
    with pytest.raises(GatedRepo) as get:
        Downloader(tmp_path, Layout.A1111, retry=FAST_RETRY).fetch(hf.download_job(file))
    assert "request access" in str(get.value) and "not in the authorized list" in str(get.value)
    assert not list(tmp_path.rglob("*.part"))


def test_a_repo_the_engine_cannot_see_reads_as_not_found(hub: FakeHub, tmp_path: Path) -> None:
    """Anonymous requests for a missing or private repo get 401 + RepoNotFound."""
    hub.add_repo("acme/secret", {"s.safetensors": lora_bytes(22)}, private=True)
    file = client(hub, HF_TOKEN).list_files("acme/secret")[0]
    with pytest.raises(NotFound) as info:
        Downloader(tmp_path, Layout.A1111, retry=FAST_RETRY).fetch(client(hub).download_job(file))
    assert info.value.status == 401 and "HF_TOKEN" in str(info.value)
    assert "login required" not in str(info.value)


def test_offline_mode_is_named_and_nothing_is_asked(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    hub.add_repo("acme/ink", {"ink.safetensors": lora_bytes(23)})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(TransientError, match="offline") as info:
        client(hub).select("acme/ink", "ink.safetensors")
    assert "HF_HUB_OFFLINE" in str(info.value)
    assert hub.requests == []


def test_an_endpoint_that_is_no_hub_is_named(hub: FakeHub) -> None:
    """A proxy or wrong HF_ENDPOINT answering 200 without the Hub's X-Repo-Commit header."""
    hub.add_repo("acme/ink", {"ink.safetensors": lora_bytes(24)})
    hub.fail("/acme/ink/resolve/", Failure.HTML_OK, times=10)
    with pytest.raises(HubError, match="HF_ENDPOINT") as info:
        client(hub).file_info("acme/ink", "ink.safetensors")
    assert not info.value.transient
