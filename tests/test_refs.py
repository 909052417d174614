"""Every reference form of CLI.md parses into the right typed variant; bad ones say why."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdhub.hub.errors import BadReference
from sdhub.hub.refs import (
    AssetName,
    CivitaiRef,
    HashKind,
    HashRef,
    HfRef,
    LocalPath,
    parse_ref,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("civitai:4201", CivitaiRef(4201)),
        ("civitai:4201@130072", CivitaiRef(4201, 130072)),
        ("CIVITAI:4201@130072", CivitaiRef(4201, 130072)),
        ("civitai:@130072", CivitaiRef(None, 130072)),
        ("https://civitai.com/models/4201", CivitaiRef(4201)),
        ("https://civitai.com/models/4201/my-style-lora", CivitaiRef(4201)),
        (
            "https://civitai.com/models/4201/my-style?modelVersionId=130072",
            CivitaiRef(4201, 130072),
        ),
        ("https://civitai.com/models/4201?modelVersionId=130072", CivitaiRef(4201, 130072)),
        ("https://www.civitai.com/models/4201", CivitaiRef(4201)),
        ("https://civitai.red/models/4201/x?modelVersionId=7", CivitaiRef(4201, 7)),
        ("https://civitai.com/api/download/models/130072", CivitaiRef(None, 130072)),
        ("https://civitai.com/model-versions/130072", CivitaiRef(None, 130072)),
        ("https://civitai.com/api/v1/model-versions/130072", CivitaiRef(None, 130072)),
        ("https://civitai.com/api/v1/models/4201", CivitaiRef(4201)),
        ("urn:air:sd1:lora:civitai:4201@130072", CivitaiRef(4201, 130072)),
        # The AIR spec's optional layer and format, and the prefix without "urn:".
        (
            "urn:air:sdxl:checkpoint:civitai:4201@130072.safetensors",
            CivitaiRef(4201, 130072, (("format", "SafeTensor"),)),
        ),
        ("air:flux1:lora:civitai:4201@130072:mylayer", CivitaiRef(4201, 130072)),
        ("urn:air:sd1:lora:civitai:4201", CivitaiRef(4201)),
        # Since 2026 civitai.com (also civitai.green) is the SFW site, civitai.red has it all.
        ("https://civitai.green/models/4201?modelVersionId=7", CivitaiRef(4201, 7)),
        (
            "https://civitai.red/api/download/models/130072?fileId=99",
            CivitaiRef(None, 130072, (("fileId", "99"),)),
        ),
    ],
)
def test_civitai_forms(text: str, expected: CivitaiRef) -> None:
    assert parse_ref(text) == expected


def test_download_url_keeps_file_selectors_and_drops_the_token() -> None:
    ref = parse_ref(
        "https://civitai.com/api/download/models/130072?type=Model&format=SafeTensor"
        "&size=pruned&fp=fp16&token=SECRETKEY"
    )
    assert isinstance(ref, CivitaiRef)
    assert ref.version_id == 130072
    assert dict(ref.selectors) == {
        "type": "Model",
        "format": "SafeTensor",
        "size": "pruned",
        "fp": "fp16",
    }
    assert "SECRETKEY" not in repr(ref) and "SECRETKEY" not in str(ref)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf:stabilityai/sdxl-vae", HfRef("stabilityai/sdxl-vae")),
        (
            "hf:stabilityai/sdxl-vae/sdxl_vae.safetensors",
            HfRef("stabilityai/sdxl-vae", "sdxl_vae.safetensors"),
        ),
        (
            "hf:acme/loras/styles/ink.safetensors@v1.0",
            HfRef("acme/loras", "styles/ink.safetensors", "v1.0"),
        ),
        ("hf:acme/repo@refs/pr/3", HfRef("acme/repo", None, "refs/pr/3")),
        (
            "https://huggingface.co/acme/loras/blob/main/styles/ink.safetensors",
            HfRef("acme/loras", "styles/ink.safetensors", "main"),
        ),
        (
            "https://huggingface.co/acme/loras/resolve/0123abc/ink.safetensors?download=true",
            HfRef("acme/loras", "ink.safetensors", "0123abc"),
        ),
        (
            "https://huggingface.co/acme/loras/resolve/refs%2Fpr%2F1/a%20b.safetensors",
            HfRef("acme/loras", "a b.safetensors", "refs/pr/1"),
        ),
        ("https://huggingface.co/acme/loras", HfRef("acme/loras")),
        ("https://huggingface.co/acme/sd/tree/main/unet", HfRef("acme/sd", "unet", "main")),
        (
            "https://hf.co/acme/loras/blob/main/x.safetensors",
            HfRef("acme/loras", "x.safetensors", "main"),
        ),
    ],
)
def test_hugging_face_forms(text: str, expected: HfRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("abcdef0123", HashKind.AUTOV2),
        ("ABCDEF012345", HashKind.AUTOV3),
        ("a" * 64, HashKind.SHA256),
        ("DeadBeef01", HashKind.AUTOV2),
    ],
)
def test_hashes_any_case(text: str, kind: HashKind) -> None:
    ref = parse_ref(text)
    assert ref == HashRef(text.upper(), kind)


def test_local_paths_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_ref("models/Lora/x.safetensors") == LocalPath(Path("models/Lora/x.safetensors"))
    assert parse_ref("./x") == LocalPath(Path("x"))
    assert parse_ref("mystyle.safetensors") == LocalPath(Path("mystyle.safetensors"))
    assert parse_ref("~/loras/a.pt").path == Path.home() / "loras" / "a.pt"  # type: ignore[union-attr]
    assert parse_ref("mystyle") == AssetName("mystyle")
    assert parse_ref("my style v2") == AssetName("my style v2")
    # A file that exists wins over a hash reading of its name.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "abcdef0123").write_bytes(b"x")
    assert isinstance(parse_ref("abcdef0123"), LocalPath)
    # 11 hex digits is no hash length: a name.
    assert parse_ref("abcdef01234") == AssetName("abcdef01234")


def test_configured_hosts_count_as_the_services() -> None:
    ref = parse_ref(
        "http://127.0.0.1:8123/models/5?modelVersionId=6", civitai_hosts={"127.0.0.1:8123"}
    )
    assert ref == CivitaiRef(5, 6)
    assert parse_ref(
        "http://127.0.0.1:9000/acme/x/resolve/main/a.safetensors", hf_hosts={"127.0.0.1:9000"}
    ) == HfRef("acme/x", "a.safetensors", "main")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("civitai:abc", "civitai:MODEL_ID"),
        ("civitai:12@x", "numbers"),
        ("hf:justone", "OWNER/REPO"),
        ("hf:acme/../etc/passwd", "not a valid"),
        ("hf:acme/repo/../../x", "'..'"),
        ("hf:acme/repo@", "empty revision"),
        ("https://example.com/model.safetensors", "only civitai.com and huggingface.co"),
        ("https://civitai.com/user/someone", "Civitai model page"),
        ("https://civitai.com/api/download/models/abc", "Civitai model page"),
        ("https://huggingface.co/datasets/acme/x", "only model repos"),
        ("https://huggingface.co/acme/x/blob/main", "names no file"),
        ("ftp://civitai.com/models/1", "unsupported URL scheme"),
        ("urn:air:sd1:lora:hf:x", "Civitai AIRs"),
        ("   ", "empty reference"),
        ("a<b>", "not a path"),
    ],
)
def test_bad_references_say_which_and_why(text: str, words: str) -> None:
    with pytest.raises(BadReference) as info:
        parse_ref(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message
    assert words in message
