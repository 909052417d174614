"""References (REF on the command line) parsed into typed variants — every form in CLI.md.

Parsing only: local references (paths, asset names, hashes) are resolved
against the catalog by its callers, remote ones by the clients. A reference
that fits no form raises :class:`~.errors.BadReference` with a one-line
message naming it.

Order of interpretation: ``civitai:``/``hf:``/``urn:air:`` prefixes, then
URLs, then hashes (10, 12 or 64 hex digits), then paths (anything with a
path separator, a leading ``.``/``~``, a model-file suffix, or that exists
on disk), then asset names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from sdhub.models.layouts import MODEL_SUFFIXES

from .errors import BadReference

#: civitai.com (since 2026 the SFW site, also as civitai.green) and civitai.red (everything):
#: one API, one key.
CIVITAI_HOSTS = frozenset(
    f"{www}civitai.{tld}" for www in ("", "www.") for tld in ("com", "red", "green")
)
HF_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
#: Download-URL query parameters that select a file (``token`` is never kept).
FILE_SELECTORS = ("type", "format", "size", "fp", "fileId")


class HashKind(StrEnum):
    AUTOV2 = "autov2"  # 10 hex: first 10 of SHA256
    AUTOV3 = "autov3"  # 12 hex: the safetensors-payload hash
    SHA256 = "sha256"  # 64 hex


_HASH_LENGTHS = {10: HashKind.AUTOV2, 12: HashKind.AUTOV3, 64: HashKind.SHA256}


@dataclass(frozen=True, slots=True)
class LocalPath:
    path: Path
    text: str = field(compare=False, default="")


@dataclass(frozen=True, slots=True)
class AssetName:
    """What the WebUI calls an asset (the file stem)."""

    name: str


@dataclass(frozen=True, slots=True)
class HashRef:
    value: str  # upper-case hex
    kind: HashKind


@dataclass(frozen=True, slots=True)
class CivitaiRef:
    """A Civitai model and/or version; ``selectors`` pick a non-primary file."""

    model_id: int | None = None
    version_id: int | None = None
    selectors: tuple[tuple[str, str], ...] = ()

    def selector(self, name: str) -> str | None:
        return dict(self.selectors).get(name)

    def __str__(self) -> str:
        if self.model_id is None:
            return f"civitai:@{self.version_id}"
        return f"civitai:{self.model_id}" + (f"@{self.version_id}" if self.version_id else "")


@dataclass(frozen=True, slots=True)
class HfRef:
    """A Hugging Face repo, optionally a path in it (file or folder) and a revision."""

    repo: str
    path: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        text = f"hf:{self.repo}" + (f"/{self.path}" if self.path else "")
        return text + (f"@{self.revision}" if self.revision else "")


Ref = LocalPath | AssetName | HashRef | CivitaiRef | HfRef

_INT = re.compile(r"^\d+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: ``urn:air:{ecosystem}:{type}:civitai:{model}[@{version}][:{layer}][.{format}]``.
_AIR = re.compile(
    r"^(?:urn:)?air:[^:]+:[^:]+:civitai:(\d+)(?:@(\d+))?(?::[^.]+)?(?:\.([A-Za-z0-9]+))?$", re.I
)
#: AIR ``.format`` → the download URL's ``format`` selector.
_AIR_FORMATS = {
    "safetensor": "SafeTensor",
    "safetensors": "SafeTensor",
    "ckpt": "PickleTensor",
    "pt": "PickleTensor",
    "pickletensor": "PickleTensor",
    "gguf": "GGUF",
    "diffusers": "Diffusers",
}


def _bad(text: str, why: str) -> BadReference:
    return BadReference(f"{text!r}: {why}")


def parse_ref(
    text: str,
    *,
    civitai_hosts: frozenset[str] | set[str] = frozenset(),
    hf_hosts: frozenset[str] | set[str] = frozenset(),
) -> Ref:
    """The typed reference ``text`` stands for.

    ``civitai_hosts``/``hf_hosts`` add hosts (``host`` or ``host:port``) whose
    URLs count as Civitai/Hub URLs — the configured ``SDHUB_CIVITAI_URL`` or
    ``HF_ENDPOINT``.
    """
    raw = text.strip()
    if not raw:
        raise _bad(text, "empty reference")
    lower = raw.lower()
    if lower.startswith("civitai:"):
        return _civitai_short(raw, raw[len("civitai:") :])
    if lower.startswith("hf:"):
        return _hf_short(raw, raw[len("hf:") :])
    if lower.startswith(("urn:air:", "air:")):
        match = _AIR.match(raw)
        if not match:
            raise _bad(text, "only Civitai AIRs (urn:air:…:civitai:MODEL@VERSION) are understood")
        file_format = _AIR_FORMATS.get((match.group(3) or "").lower())
        return CivitaiRef(
            int(match.group(1)),
            int(match.group(2)) if match.group(2) else None,
            (("format", file_format),) if file_format else (),
        )
    if re.match(r"^[a-z][a-z0-9+.-]*://", lower):
        return _url(raw, set(civitai_hosts), set(hf_hosts))
    if _HEX.match(raw) and len(raw) in _HASH_LENGTHS and not os.path.exists(raw):
        return HashRef(raw.upper(), _HASH_LENGTHS[len(raw)])
    if _looks_like_path(raw):
        return LocalPath(Path(raw).expanduser(), raw)
    if any(c in raw for c in "<>|\x00"):
        raise _bad(text, "not a path, asset name, hash, Civitai or Hugging Face reference")
    return AssetName(raw)


def _looks_like_path(raw: str) -> bool:
    if "/" in raw or "\\" in raw or raw.startswith((".", "~")):
        return True
    if re.match(r"^[A-Za-z]:", raw):  # a Windows drive
        return True
    return Path(raw).suffix.lower() in MODEL_SUFFIXES or os.path.exists(raw)


def _civitai_short(text: str, body: str) -> CivitaiRef:
    model, sep, version = body.strip().partition("@")
    if not sep:
        if _INT.match(model):
            return CivitaiRef(model_id=int(model))
        raise _bad(text, "expected civitai:MODEL_ID or civitai:MODEL_ID@VERSION_ID")
    if model == "" and _INT.match(version):
        return CivitaiRef(version_id=int(version))
    if _INT.match(model) and _INT.match(version):
        return CivitaiRef(model_id=int(model), version_id=int(version))
    raise _bad(text, "expected civitai:MODEL_ID@VERSION_ID (numbers)")


def _hf_short(text: str, body: str) -> HfRef:
    body = body.strip().strip("/")
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
        if not revision:
            raise _bad(text, "empty revision after @")
    parts = body.split("/")
    if len(parts) < 2:
        raise _bad(text, "expected hf:OWNER/REPO[/PATH][@REVISION]")
    return _hf_ref(text, parts[0], parts[1], "/".join(parts[2:]) or None, revision)


def _hf_ref(text: str, owner: str, name: str, path: str | None, revision: str | None) -> HfRef:
    for part in (owner, name):
        if not _REPO_PART.match(part) or ".." in part:
            raise _bad(text, f"{part!r} is not a valid Hugging Face owner or repo name")
    if path is not None:
        segments = path.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise _bad(text, "the path in the repo must not contain empty, '.' or '..' parts")
    return HfRef(f"{owner}/{name}", path, revision)


def _url(text: str, civitai_hosts: set[str], hf_hosts: set[str]) -> Ref:
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        netloc = parts.netloc.lower().rsplit("@", 1)[-1]
    except ValueError:
        raise _bad(text, "malformed URL") from None
    if parts.scheme not in ("http", "https"):
        raise _bad(text, f"unsupported URL scheme {parts.scheme!r}")
    if host in CIVITAI_HOSTS or netloc in civitai_hosts or host in civitai_hosts:
        return _civitai_url(text, parts.path, dict(parse_qsl(parts.query)))
    if host in HF_HOSTS or netloc in hf_hosts or host in hf_hosts:
        return _hf_url(text, parts.path)
    raise _bad(text, "only civitai.com and huggingface.co URLs are understood")


def _civitai_url(text: str, path: str, query: dict[str, str]) -> CivitaiRef:
    segments = [unquote(s) for s in path.split("/") if s]
    version_param = query.get("modelVersionId")
    version = int(version_param) if version_param and _INT.match(version_param) else None
    if len(segments) >= 2 and segments[0] == "models" and _INT.match(segments[1]):
        return CivitaiRef(model_id=int(segments[1]), version_id=version)
    last = segments[-1] if segments else ""
    if segments[:3] == ["api", "download", "models"] and len(segments) == 4 and _INT.match(last):
        selectors = tuple((k, query[k]) for k in FILE_SELECTORS if query.get(k))
        return CivitaiRef(version_id=int(last), selectors=selectors)
    if segments[:3] == ["api", "v1", "models"] and len(segments) == 4 and _INT.match(last):
        return CivitaiRef(model_id=int(last))
    if len(segments) == 2 and segments[0] == "model-versions" and _INT.match(last):
        return CivitaiRef(version_id=int(last))
    if segments[:3] == ["api", "v1", "model-versions"] and len(segments) == 4 and _INT.match(last):
        return CivitaiRef(version_id=int(last))
    raise _bad(
        text,
        "expected a Civitai model page (/models/ID[?modelVersionId=V]) or download URL "
        "(/api/download/models/V)",
    )


def _hf_url(text: str, path: str) -> HfRef:
    segments = path.strip("/").split("/")
    if segments and segments[0] in ("datasets", "spaces"):
        raise _bad(text, "only model repos are supported, not datasets or spaces")
    if len(segments) < 2:
        raise _bad(text, "expected https://huggingface.co/OWNER/REPO[/blob|resolve/REV/PATH]")
    owner, name = segments[0], segments[1]
    rest = segments[2:]
    if not rest:
        return _hf_ref(text, owner, name, None, None)
    if rest[0] in ("blob", "resolve", "tree") and len(rest) >= 2:
        revision = unquote(rest[1])
        inner = "/".join(unquote(s) for s in rest[2:]) or None
        if rest[0] != "tree" and inner is None:
            raise _bad(text, "the URL names no file")
        return _hf_ref(text, owner, name, inner, revision)
    raise _bad(text, "expected https://huggingface.co/OWNER/REPO/blob/REV/PATH (or /resolve/)")
