"""Files from the outside world that sit next to a model: Civitai Helper's info and a preview.

After a download (or an enrichment) the WebUIs and their extensions should
see what sdhub learnt: ``<stem>.civitai.info`` is the raw model-version
answer as Civitai Helper stores it (other tools, and sdhub's own scan, read
it), and ``<stem>.preview.<ext>`` is the picture A1111's cards and ComfyUI
managers show. The A1111 ``<stem>.json`` is the catalog's job
(:func:`sdhub.catalog.write_a1111_sidecar`).

Previews respect the NSFW setting: with it off only images rated PG or
PG-13 (``nsfwLevel`` bits 1 and 2, or the 2023 ``nsfw: None|Soft``) are
saved, and an image without any rating is not. Videos are skipped. Every
file is written to a temporary name first and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
from sdhub.catalog.sidecars import CIVITAI_INFO, PREVIEW_SUFFIXES

from .civitai import CivitaiImage, is_nsfw_level
from .http import DEFAULT_TIMEOUT, redact_url

#: Previews above this size are refused (a preview is a thumbnail, not a wallpaper).
MAX_PREVIEW_BYTES = 32 << 20

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpeg"),
    (b"WEBP", 8, ".webp"),
    (b"GIF8", 0, ".gif"),
)


def preview_allowed(image: CivitaiImage, *, nsfw: bool) -> bool:
    """Whether this example image may be saved as a preview under the NSFW setting."""
    if image.type != "image" or not image.url:
        return False
    if nsfw:
        return True
    return (
        image.nsfw_level is not None
        and image.nsfw_level > 0
        and not is_nsfw_level(image.nsfw_level)
    )


def choose_preview(images: Iterable[CivitaiImage], *, nsfw: bool) -> CivitaiImage | None:
    """The first example image that may be saved (Civitai lists the cover image first)."""
    return next((i for i in images if preview_allowed(i, nsfw=nsfw)), None)


def existing_preview(model: Path) -> Path | None:
    """A preview already next to the model (``<stem>.preview.png``, ``<stem>.png``, …)."""
    for suffix in PREVIEW_SUFFIXES:
        candidate = model.with_name(model.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def image_suffix(head: bytes) -> str | None:
    """``.png``/``.jpeg``/``.webp``/``.gif`` from an image's first bytes; None if no image."""
    for magic, offset, suffix in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    return None


def save_preview(
    session: requests.Session,
    model: Path,
    image: CivitaiImage,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Path | None:
    """Fetch one example image and save it as ``<stem>.preview.<ext>`` next to ``model``.

    Best effort: a preview is decoration, so network trouble, a non-image
    body or an oversized file give None and leave nothing behind. No token
    is sent (image hosts are public).
    """
    assert image.url is not None
    tmp = model.with_name(f".{model.stem}.preview.{os.getpid()}.tmp")
    try:
        with session.get(image.url, stream=True, timeout=timeout) as response:
            if not response.ok:
                return None
            size = 0
            head = b""
            with tmp.open("wb") as fh:
                for chunk in response.iter_content(256 * 1024):
                    if not head:
                        head = chunk[:16]
                    size += len(chunk)
                    if size > MAX_PREVIEW_BYTES:
                        raise ValueError(f"{redact_url(image.url)}: preview too large")
                    fh.write(chunk)
        suffix = image_suffix(head)
        if suffix is None:
            return None
        target = model.with_name(model.stem + f".preview{suffix}")
        os.replace(tmp, target)
        return target
    except (requests.RequestException, OSError, ValueError):
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_civitai_info(
    model: Path, version: Mapping[str, Any], *, replace: bool = False
) -> Path | None:
    """Write Civitai Helper's ``<stem>.civitai.info`` (the raw model-version answer).

    An existing file is kept unless ``replace`` or it names no version or
    another one (a manual link corrects a wrong hash). Returns the path
    written, or None when the existing file stays.
    """
    target = model.with_name(model.stem + CIVITAI_INFO)
    if target.exists() and not replace:
        try:
            current = json.loads(target.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            current = None
        if isinstance(current, dict) and str(current.get("id")) == str(version.get("id")):
            return None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(dict(version), fh, indent=4, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target
