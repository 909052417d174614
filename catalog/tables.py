"""The catalog's tables (SQLModel): local files, remote records, and what we know about them.

One row of :class:`LocalFile` is an *asset*: a model file on disk. Its name is
what the WebUIs call it (the file stem). Everything learned about it hangs off
either the file itself (sidecars, safetensors metadata, a person's edits) or
the remote version it is linked to (Civitai / Hugging Face), so two copies of
one download share what Civitai says, and a file keeps its own edits when it
moves (a move updates ``path``; the row, and so its id, stays).

The schema is created by Alembic migrations (``migrations/versions``), never
by ``create_all``; a test checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sdhub.models.kinds import Base, Component, FileFormat, Kind, Verdict
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from .coltypes import EnumText, JSONDoc, UTCDateTime, utcnow
from .enums import LinkSource, Origin, Site, Source, WeightSource

#: Constraint and index names that are the same on every database (Alembic needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class CatalogModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of the catalog's tables: their own metadata, apart from any other SQLModel user."""


def _fk(target: str, *, ondelete: str, index: bool = True) -> Any:
    return Field(default=None, foreign_key=target, ondelete=ondelete, index=index)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_type=JSONDoc, nullable=False)


# --------------------------------------------------------------------------------------
# Remote records: Civitai and Hugging Face


class RemoteModel(CatalogModel, table=True):
    """A model page: a Civitai model, or a Hugging Face repository."""

    __tablename__ = "remote_model"
    __table_args__ = (sa.UniqueConstraint("site", "remote_id"),)

    id: int | None = Field(default=None, primary_key=True)
    site: Site = Field(sa_type=EnumText(Site, 16), nullable=False)
    #: Civitai model id (as text) or the Hugging Face repo id ``owner/name``.
    remote_id: str = Field(nullable=False)
    name: str | None = None
    #: Civitai ``type`` (``LORA``, ``Checkpoint``, ``TextualInversion``, …); HF pipeline tag.
    type: str | None = None
    creator: str | None = None
    tags: list[str] = _json(list)
    nsfw: bool | None = None
    #: Civitai bit flags: 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX, 32 blocked.
    nsfw_level: int | None = None
    poi: bool | None = None
    minor: bool | None = None
    availability: str | None = None
    #: ``Archived`` / ``TakenDown`` when Civitai says so.
    mode: str | None = None
    allow_no_credit: bool | None = None
    allow_commercial_use: list[str] = _json(list)
    allow_derivatives: bool | None = None
    allow_different_license: bool | None = None
    license: str | None = None
    description: str | None = Field(default=None, sa_type=sa.Text)
    url: str | None = None
    origin: Origin = Field(default=Origin.API, sa_type=EnumText(Origin, 24), nullable=False)
    raw: dict[str, Any] = _json(dict)
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RemoteVersion(CatalogModel, table=True):
    """A published version: a Civitai model version, or a Hugging Face revision of a repo."""

    __tablename__ = "remote_version"
    __table_args__ = (sa.UniqueConstraint("site", "remote_id"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int | None = _fk("remote_model.id", ondelete="CASCADE")
    site: Site = Field(sa_type=EnumText(Site, 16), nullable=False)
    #: Civitai version id (as text) or ``owner/name@revision`` on Hugging Face.
    remote_id: str = Field(nullable=False)
    name: str | None = None
    #: Civitai ``baseModel`` as published (``SD 1.5``, ``Pony``, ``Flux.1 D`` …).
    base_model: str | None = None
    base_model_type: str | None = None
    #: ``base_model`` mapped onto our families (a hint: the file's bytes decide).
    base: Base | None = Field(default=None, sa_type=EnumText(Base, 16), index=True)
    status: str | None = None
    availability: str | None = None
    nsfw_level: int | None = None
    description: str | None = Field(default=None, sa_type=sa.Text)
    #: Position in the model's version list (0 = newest), where known.
    position: int | None = None
    air: str | None = None
    url: str | None = None
    download_url: str | None = None
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    early_access_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    origin: Origin = Field(default=Origin.API, sa_type=EnumText(Origin, 24), nullable=False)
    raw: dict[str, Any] = _json(dict)
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RemoteFile(CatalogModel, table=True):
    """A file a version publishes, with the hashes the site shows for it."""

    __tablename__ = "remote_file"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int | None = _fk("remote_version.id", ondelete="CASCADE")
    #: Civitai file id (as text) or the path inside a Hugging Face repo.
    remote_id: str | None = None
    name: str | None = None
    #: Civitai file type: ``Model``, ``Pruned Model``, ``Negative``, ``VAE``, ``Config`` …
    type: str | None = None
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    fp: str | None = None
    size_type: str | None = None
    format: str | None = None
    primary: bool | None = None
    sha256: str | None = Field(default=None, sa_type=sa.String(64), index=True)
    autov1: str | None = Field(default=None, sa_type=sa.String(8))
    autov2: str | None = Field(default=None, sa_type=sa.String(10))
    autov3: str | None = Field(default=None, sa_type=sa.String(12), index=True)
    crc32: str | None = Field(default=None, sa_type=sa.String(8))
    blake3: str | None = Field(default=None, sa_type=sa.String(64))
    pickle_scan: str | None = None
    virus_scan: str | None = None
    download_url: str | None = None
    raw: dict[str, Any] = _json(dict)


# --------------------------------------------------------------------------------------
# Local files


class LocalFile(CatalogModel, table=True):
    """A model file on disk: what it is (from its bytes) and where it lives."""

    __tablename__ = "local_file"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_type=sa.Text, nullable=False, unique=True)
    #: What the WebUIs call the file: its stem.
    name: str = Field(nullable=False, index=True)
    size: int = Field(sa_type=sa.BigInteger, nullable=False)
    mtime_ns: int = Field(sa_type=sa.BigInteger, nullable=False)
    inode: int = Field(sa_type=sa.BigInteger, nullable=False)

    sha256: str | None = Field(default=None, sa_type=sa.String(64), index=True)
    autov1: str | None = Field(default=None, sa_type=sa.String(8))
    autov2: str | None = Field(default=None, sa_type=sa.String(10), index=True)
    autov3: str | None = Field(default=None, sa_type=sa.String(12), index=True)
    crc32: str | None = Field(default=None, sa_type=sa.String(8))
    blake3: str | None = Field(default=None, sa_type=sa.String(64))

    kind: Kind = Field(sa_type=EnumText(Kind, 16), nullable=False, index=True)
    base: Base = Field(default=Base.UNKNOWN, sa_type=EnumText(Base, 16), nullable=False, index=True)
    component: Component | None = Field(default=None, sa_type=EnumText(Component, 24))
    format: FileFormat = Field(sa_type=EnumText(FileFormat, 16), nullable=False)
    details: dict[str, Any] = _json(dict)
    warnings: list[str] = _json(list)
    error: str | None = Field(default=None, sa_type=sa.Text)
    safety: Verdict = Field(sa_type=EnumText(Verdict, 16), nullable=False)
    safety_globals: list[str] = _json(list)
    safety_reason: str | None = Field(default=None, sa_type=sa.Text)

    #: What a person (or a sidecar) says about the file (A1111 user metadata).
    description: str | None = Field(default=None, sa_type=sa.Text)
    notes: str | None = Field(default=None, sa_type=sa.Text)
    negative_text: str | None = Field(default=None, sa_type=sa.Text)
    #: A negative embedding (goes in the negative prompt); None = judge from name/remote type.
    negative: bool | None = None

    remote_version_id: int | None = _fk("remote_version.id", ondelete="SET NULL")
    remote_file_id: int | None = _fk("remote_file.id", ondelete="SET NULL")
    link_source: LinkSource | None = Field(default=None, sa_type=EnumText(LinkSource, 16))

    #: Sidecar files seen next to the model at the last import: name → [size, mtime_ns].
    sidecars: dict[str, Any] = _json(dict)

    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    missing: bool = Field(default=False, nullable=False, index=True)


# --------------------------------------------------------------------------------------
# Knowledge about files and versions


class TriggerWord(CatalogModel, table=True):
    """One trigger word in order, of a remote version or of a local file, with its source."""

    __tablename__ = "trigger_word"
    __table_args__ = (
        sa.CheckConstraint("(version_id IS NULL) <> (file_id IS NULL)", name="one_owner"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version_id: int | None = _fk("remote_version.id", ondelete="CASCADE")
    file_id: int | None = _fk("local_file.id", ondelete="CASCADE")
    source: Source = Field(sa_type=EnumText(Source, 16), nullable=False)
    #: Where exactly: ``mystyle.json``, ``ss_tag_frequency``, ``api`` …
    origin: str | None = None
    position: int = Field(default=0, nullable=False)
    word: str = Field(sa_type=sa.Text, nullable=False)


class Weight(CatalogModel, table=True):
    """A recommended weight (LoRA strength) with its range and source."""

    __tablename__ = "weight"
    __table_args__ = (
        sa.CheckConstraint("(version_id IS NULL) <> (file_id IS NULL)", name="one_owner"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version_id: int | None = _fk("remote_version.id", ondelete="CASCADE")
    file_id: int | None = _fk("local_file.id", ondelete="CASCADE")
    source: WeightSource = Field(sa_type=EnumText(WeightSource, 16), nullable=False)
    origin: str | None = None
    default: float = Field(nullable=False)
    min: float | None = None
    max: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Preview(CatalogModel, table=True):
    """A preview image or video: a remote URL, a local file, or both."""

    __tablename__ = "preview"
    __table_args__ = (
        sa.CheckConstraint("(version_id IS NULL) <> (file_id IS NULL)", name="one_owner"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version_id: int | None = _fk("remote_version.id", ondelete="CASCADE")
    file_id: int | None = _fk("local_file.id", ondelete="CASCADE")
    source: Source = Field(sa_type=EnumText(Source, 16), nullable=False)
    position: int = Field(default=0, nullable=False)
    url: str | None = None
    local_path: str | None = Field(default=None, sa_type=sa.Text)
    media_type: str | None = None
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    width: int | None = None
    height: int | None = None
    nsfw_level: int | None = None
    #: Generation parameters (Civitai image ``meta``, or A1111 PNG ``parameters``).
    params: dict[str, Any] = _json(dict)


class RenderResult(CatalogModel, table=True):
    """One validation render of an asset against a base (filled by ``sdhub render``)."""

    __tablename__ = "render_result"

    id: int | None = Field(default=None, primary_key=True)
    file_id: int | None = _fk("local_file.id", ondelete="CASCADE")
    base_file_id: int | None = _fk("local_file.id", ondelete="SET NULL", index=False)
    base_name: str | None = None
    base_path: str | None = Field(default=None, sa_type=sa.Text)
    #: ``ok``, ``no-effect``, ``nan``, ``black``, ``incompatible``, ``error``.
    verdict: str = Field(nullable=False)
    grid_path: str | None = Field(default=None, sa_type=sa.Text)
    images: int = Field(default=0, nullable=False)
    seconds: float | None = None
    message: str | None = Field(default=None, sa_type=sa.Text)
    #: Weights, prompts, seeds, steps, device: what the grid shows.
    params: dict[str, Any] = _json(dict)
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RemoteLookup(CatalogModel, table=True):
    """The last real answer a site gave to "which published file has this SHA-256?".

    Written only when the site answered (found, or a genuine 404/empty
    result), never after a network failure (SPEC-APIS.md C.5): so ``sdhub
    enrich --all`` need not ask again about files Civitai does not know, and
    an outage never marks a file "not on Civitai". Keyed by hash, not by
    file, so it survives moves and goes stale by itself when a file changes.
    """

    __tablename__ = "remote_lookup"
    __table_args__ = (sa.UniqueConstraint("site", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    site: Site = Field(sa_type=EnumText(Site, 16), nullable=False)
    sha256: str = Field(sa_type=sa.String(64), nullable=False)
    found: bool = Field(nullable=False)
    checked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


TABLES = (
    RemoteModel,
    RemoteVersion,
    RemoteFile,
    LocalFile,
    TriggerWord,
    Weight,
    Preview,
    RenderResult,
    RemoteLookup,
)
