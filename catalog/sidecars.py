"""Files next to a model that WebUIs and other tools read and write, and the catalog's side of them.

Read (by the scan): A1111 user metadata ``<stem>.json``, Civitai Helper's
``<stem>.civitai.info``, Stability Matrix's ``<stem>.cm-info.json``, previews
``<stem>.preview.png`` (``.jpg``/``.jpeg``/``.webp``/``.gif``) and ``<stem>.png``.
Written: the A1111 ``<stem>.json``, merged so that nothing a person wrote is
ever replaced, atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdhub.models.kinds import Base
from sqlmodel import Session

from .enums import LinkSource, Origin, Source, WeightSource
from .errors import SidecarError
from .files import link_file
from .knowledge import (
    PreviewInfo,
    set_previews,
    set_trigger_words,
    set_weight,
    split_activation_text,
    valid_weight,
)
from .remote import record_civitai_version, record_cm_info
from .tables import LocalFile, RemoteVersion

A1111_JSON = ".json"
CIVITAI_INFO = ".civitai.info"
CM_INFO = ".cm-info.json"
PREVIEW_SUFFIXES: tuple[str, ...] = (
    ".preview.png",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
    ".preview.gif",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
)
#: A checkpoint's config (v-prediction SD2 models need it).
CONFIG_SUFFIXES: tuple[str, ...] = (".yaml",)
#: Everything that belongs to a model and travels with it, most specific first.
SIDECAR_SUFFIXES: tuple[str, ...] = (
    CIVITAI_INFO,
    CM_INFO,
    A1111_JSON,
    *PREVIEW_SUFFIXES,
    *CONFIG_SUFFIXES,
)

#: The keys A1111's extra-networks editor writes, in its order.
A1111_KEYS = (
    "description",
    "sd version",
    "activation text",
    "preferred weight",
    "negative text",
    "notes",
)
#: A1111's ``sd version`` spellings.
A1111_SD_VERSIONS = {Base.SD1: "SD1", Base.SD2: "SD2", Base.SDXL: "SDXL"}


def sidecar_path(model: str | os.PathLike[str], suffix: str) -> Path:
    """``models/Lora/x.safetensors`` + ``.json`` → ``models/Lora/x.json``."""
    path = Path(model)
    return path.with_name(path.stem + suffix)


def find_sidecars(model: str | os.PathLike[str], names: set[str] | None = None) -> dict[str, Path]:
    """The sidecars that exist next to a model, keyed by suffix.

    ``names`` (the directory's file names, when the caller listed it anyway)
    saves one ``stat`` per candidate; string work only, as a scan calls this
    for every file.
    """
    folder, name = os.path.split(os.fspath(model))
    stem = name.rsplit(".", 1)[0] if "." in name else name
    found: dict[str, Path] = {}
    for suffix in SIDECAR_SUFFIXES:
        candidate = stem + suffix
        if candidate == name:
            continue
        if names is not None:
            present = candidate in names
        else:
            present = os.path.isfile(os.path.join(folder, candidate))
        if present:
            found[suffix] = Path(folder, candidate)
    return found


def sidecar_state(found: Mapping[str, Path]) -> dict[str, list[int]]:
    """suffix → [size, mtime_ns]: what the scan compares to decide whether to re-import."""
    state: dict[str, list[int]] = {}
    for suffix, path in found.items():
        try:
            st = path.stat()
        except OSError:
            continue
        state[suffix] = [st.st_size, st.st_mtime_ns]
    return state


@dataclass(slots=True)
class ImportResult:
    """What importing one model's sidecars did."""

    imported: list[str]
    warnings: list[str]


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return json.loads(fh.read().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{path}: cannot read ({exc}); ignored") from exc


def import_sidecars(
    session: Session,
    row: LocalFile,
    found: Mapping[str, Path],
    *,
    previous: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
    fresh: bool = False,
) -> ImportResult:
    """Record what a model's sidecars say; forget what removed sidecars said.

    ``found``: suffix → path of the sidecars present now. ``previous`` and
    ``current``: the sidecar state (suffix → [size, mtime]) at the last import
    and now; when both are given only the sidecars that changed are read (a
    removed ``<stem>.json`` takes its trigger words and weight with it).
    ``fresh``: the row was just created, so there is nothing to replace.
    """
    assert row.id is not None
    result = ImportResult([], [])
    previous = previous or {}
    if current is None:
        changed = set(found) | set(previous)
    else:
        changed = {s for s in set(current) | set(previous) if current.get(s) != previous.get(s)}

    a1111 = found.get(A1111_JSON)
    if A1111_JSON in changed and a1111 is not None:
        try:
            data = _read_json(a1111)
            if not isinstance(data, dict):
                raise SidecarError(f"{a1111}: not a JSON object; ignored")
            _import_a1111(session, row, data, a1111.name, fresh=fresh)
            result.imported.append(a1111.name)
        except SidecarError as exc:
            result.warnings.append(str(exc))
    elif A1111_JSON in changed and A1111_JSON in previous:
        _forget_a1111(session, row)

    for suffix, recorder in ((CIVITAI_INFO, _import_civitai_info), (CM_INFO, _import_cm_info)):
        path = found.get(suffix)
        if path is None or suffix not in changed:
            continue
        try:
            data = _read_json(path)
            if not isinstance(data, dict):
                raise SidecarError(f"{path}: not a JSON object; ignored")
            if recorder(session, row, data):
                result.imported.append(path.name)
        except SidecarError as exc:
            result.warnings.append(str(exc))
        except (ValueError, TypeError, KeyError) as exc:
            result.warnings.append(f"{path}: unexpected content ({exc}); ignored")

    if changed & set(PREVIEW_SUFFIXES):
        previews = _set_local_previews(session, row.id, found, fresh=fresh)
        result.imported.extend(p.name for p in previews)
    return result


def note_written_sidecars(session: Session, row: LocalFile, written: Iterable[Path]) -> None:
    """Record sidecars sdhub itself just wrote next to a file, as a scan would have.

    A written preview makes the file's ``sidecar`` previews current; the
    written files' sizes and times are remembered so the next scan does not
    import our own files again (a ``.civitai.info`` would only repeat, more
    poorly, what the API said). Sidecars somebody else wrote are left for
    the scan to import.
    """
    assert row.id is not None
    written = set(written)
    found = find_sidecars(row.path)
    ours = {suffix: p for suffix, p in found.items() if p in written}
    if ours.keys() & set(PREVIEW_SUFFIXES):
        _set_local_previews(session, row.id, found)
    state = dict(row.sidecars or {})
    state.update(sidecar_state(ours))
    row.sidecars = state
    session.add(row)


def _set_local_previews(
    session: Session, file_id: int, found: Mapping[str, Path], *, fresh: bool = False
) -> list[Path]:
    """The preview images next to a file become its ``sidecar`` previews (in suffix order)."""
    previews = [found[s] for s in PREVIEW_SUFFIXES if s in found]
    set_previews(
        session,
        [_local_preview(p) for p in previews],
        source=Source.SIDECAR,
        file_id=file_id,
        fresh=fresh,
    )
    return previews


def _import_a1111(
    session: Session, row: LocalFile, data: Mapping[str, Any], origin: str, *, fresh: bool
) -> None:
    text = data.get("activation text")
    words = split_activation_text(text) if isinstance(text, str) else []
    set_trigger_words(
        session, words, source=Source.SIDECAR, file_id=row.id, origin=origin, fresh=fresh
    )
    set_weight(
        session,
        valid_weight(data.get("preferred weight")),
        source=WeightSource.SIDECAR,
        file_id=row.id,
        origin=origin,
        fresh=fresh,
    )
    row.description = _text(data.get("description"))
    row.notes = _text(data.get("notes"))
    row.negative_text = _text(data.get("negative text"))
    session.add(row)


def _forget_a1111(session: Session, row: LocalFile) -> None:
    set_trigger_words(session, [], source=Source.SIDECAR, file_id=row.id)
    set_weight(session, None, source=WeightSource.SIDECAR, file_id=row.id)
    row.description = row.notes = row.negative_text = None
    session.add(row)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _import_civitai_info(session: Session, row: LocalFile, data: Mapping[str, Any]) -> bool:
    # Civitai Helper leaves `{}` (or a skeleton without an id) when Civitai had nothing.
    if data.get("id") is None:
        return False
    version = record_civitai_version(session, data, origin=Origin.CIVITAI_HELPER)
    _link_from_sidecar(session, row, version)
    return True


def _import_cm_info(session: Session, row: LocalFile, data: Mapping[str, Any]) -> bool:
    version = record_cm_info(session, data)
    if version is None:
        return False
    _link_from_sidecar(session, row, version)
    return True


def _link_from_sidecar(session: Session, row: LocalFile, version: RemoteVersion) -> None:
    """A sidecar names the file's version: believe it unless the bytes or a person say otherwise."""
    if row.link_source in (LinkSource.HASH, LinkSource.USER, LinkSource.DOWNLOAD):
        return
    link_file(session, row, version, source=LinkSource.SIDECAR)


def _local_preview(path: Path) -> PreviewInfo:
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    media = "video" if path.suffix.lower() in {".gif", ".mp4", ".webm"} else "image"
    return PreviewInfo(local_path=str(path), size=size, media_type=media)


# --------------------------------------------------------------------------------------
# Writing the A1111 sidecar


def a1111_values(
    *,
    description: str | None,
    base: Base,
    trigger_words: list[str],
    weight: float | None,
    negative_text: str | None,
    notes: str | None,
) -> dict[str, Any]:
    """The A1111 user-metadata object the catalog would write (blanks as A1111 writes them)."""
    return {
        "description": description or "",
        "sd version": A1111_SD_VERSIONS.get(base, "Unknown"),
        "activation text": ", ".join(trigger_words),
        "preferred weight": weight if weight is not None else 0,
        "negative text": negative_text or "",
        "notes": notes or "",
    }


def _blank(key: str, value: Any) -> bool:
    """Is a field of an existing sidecar empty (so ours may fill it)?"""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or (key == "sd version" and value == "Unknown")
    if key == "preferred weight":
        return valid_weight(value) is None
    return False


def merge_a1111(existing: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """Theirs where present and non-empty, ours elsewhere; unknown keys of theirs kept."""
    merged = dict(existing)
    for key, value in ours.items():
        if key in existing and not _blank(key, existing[key]):
            continue
        merged[key] = value
    return merged


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to a temporary name in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=4, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_a1111_sidecar(
    session: Session, file: LocalFile | int, *, dry_run: bool = False
) -> Path | None:
    """Write (or merge into) the A1111 ``<stem>.json`` of a file from what the catalog knows.

    The WebUI's card then fills the prompt with the trigger words and the
    recommended weight. Fields a person already filled are kept as they are.
    Returns the sidecar's path, or None when nothing needed writing (with
    ``dry_run``: the path it would write, writing nothing). Raises
    :class:`SidecarError` when the existing sidecar is not valid JSON (it is
    left untouched).
    """
    from .assets import load_asset  # assets builds on this module's neighbours

    row = session.get(LocalFile, file) if isinstance(file, int) else file
    if row is None or row.id is None:
        raise SidecarError(f"no such file in the catalog: {file!r}")
    asset = load_asset(session, row.id)
    target = sidecar_path(row.path, A1111_JSON)
    existing: dict[str, Any] = {}
    if target.exists():
        data = _read_json(target)
        if not isinstance(data, dict):
            raise SidecarError(f"{target}: not a JSON object; left as it is")
        existing = data
    weight = asset.weight
    ours = a1111_values(
        description=row.description or asset.remote_description,
        base=row.base,
        trigger_words=asset.trigger_words,
        weight=weight.default
        if weight is not None and weight.source is not WeightSource.DEFAULT
        else None,
        negative_text=row.negative_text,
        notes=row.notes,
    )
    merged = merge_a1111(existing, ours)
    if existing and merged == existing:
        return None
    if dry_run:
        return target
    write_json_atomic(target, merged)
    # Remember the state we wrote, so the next scan does not re-import our own words.
    st = target.stat()
    sidecars = dict(row.sidecars or {})
    sidecars[A1111_JSON] = [st.st_size, st.st_mtime_ns]
    row.sidecars = sidecars
    session.add(row)
    return target
