"""``sdhub updates``: newer published versions of the Civitai models the library has.

Politely batched (SPEC-APIS.md A.9, C.5): one ``GET /api/v1/models?ids=…``
per 100 models, never one request per file. A version is an update for a
local file when it is published, listed before the file's version (Civitai
lists versions newest first; by id when the file's version is no longer
listed), not already in the library, and — unless ``any_base`` — made for
the same base model: the same Civitai ``baseModel`` label (an "SD 1.5" LoRA
is not updated by its "SDXL 1.0" port, nor a "Pony" one by "Illustrious"),
or the same family when the local version has no label.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sdhub.catalog import Catalog, LocalFile, RemoteModel, RemoteVersion, Site, civitai_base
from sdhub.models.kinds import Base
from sqlmodel import select

from .civitai import CivitaiClient, CivitaiModel, CivitaiVersion
from .errors import HubError


@dataclass(frozen=True, slots=True)
class LocalCivitaiFile:
    """A present local file linked to a Civitai version."""

    file_id: int
    name: str
    path: str
    model_id: int
    model_name: str | None
    version_id: int
    version_name: str | None
    base_model: str | None
    #: The family: the version's label mapped, else what the file's bytes say.
    base: Base = Base.UNKNOWN


@dataclass(frozen=True, slots=True)
class Update:
    """A newer version for one local file (one JSON Lines record of ``updates --json``)."""

    local: LocalCivitaiFile
    model: CivitaiModel
    newest: CivitaiVersion

    @property
    def ref(self) -> str:
        """What ``sdhub get`` takes to fetch it."""
        return f"civitai:{self.model.id}@{self.newest.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.local.name,
            "path": self.local.path,
            "model_id": self.model.id,
            "model_name": self.model.name,
            "local_version": {
                "id": self.local.version_id,
                "name": self.local.version_name,
                "base": self.local.base.value,
                "base_model": self.local.base_model,
            },
            "newest_version": {
                "id": self.newest.id,
                "name": self.newest.name,
                "base": self.newest.base.value,
                "base_model": self.newest.base_model,
                "published": self.newest.published_at or self.newest.created_at,
            },
            "ref": self.ref,
        }


def local_civitai_files(
    catalog: Catalog, model_ids: Iterable[int | str] | None = None
) -> list[LocalCivitaiFile]:
    """Present files linked to a Civitai version, with their model's id (of these models only
    when ``model_ids`` is given: the remote browser's marks for one page of hits)."""
    query = (
        select(LocalFile, RemoteVersion, RemoteModel)
        .join(RemoteVersion, LocalFile.remote_version_id == RemoteVersion.id)
        .join(RemoteModel, RemoteVersion.model_id == RemoteModel.id)
        .where(
            LocalFile.missing == False,  # noqa: E712
            RemoteVersion.site == Site.CIVITAI,
        )
    )
    if model_ids is not None:
        query = query.where(RemoteModel.remote_id.in_(sorted({str(i) for i in model_ids})))
    with catalog.session() as session:
        rows = session.exec(query).all()
    out = []
    for file, version, model in rows:
        if not (model.remote_id.isdigit() and version.remote_id.isdigit()):
            continue
        out.append(
            LocalCivitaiFile(
                file_id=file.id,  # type: ignore[arg-type]
                name=file.name,
                path=file.path,
                model_id=int(model.remote_id),
                model_name=model.name,
                version_id=int(version.remote_id),
                version_name=version.name,
                base_model=version.base_model,
                base=version.base if version.base not in (None, Base.UNKNOWN) else file.base,
            )
        )
    return sorted(out, key=lambda f: (f.name.lower(), f.path))


def same_base(local: LocalCivitaiFile, candidate: CivitaiVersion) -> bool:
    """Same Civitai base label (case-insensitive); the same family when the local one has none."""
    if local.base_model:
        return (candidate.base_model or "").strip().casefold() == local.base_model.casefold()
    if local.base is Base.UNKNOWN:
        return True  # nothing to compare with
    return (civitai_base(candidate.base_model) or Base.UNKNOWN) is local.base


def newest_update(
    model: CivitaiModel,
    local: LocalCivitaiFile,
    *,
    any_base: bool = False,
    owned: set[int] | frozenset[int] = frozenset(),
) -> CivitaiVersion | None:
    """The newest published version of ``model`` newer than the local file's, or None."""
    local_version_id = local.version_id
    published = [v for v in model.versions if v.status in (None, "Published")]
    ids = [v.id for v in published]
    if local_version_id in ids:
        newer = published[: ids.index(local_version_id)]
    else:
        newer = [v for v in published if v.id > local_version_id]
    for version in newer:
        if not any_base and not same_base(local, version):
            continue
        if version.id in owned:
            return None  # the library has the newest one of this base already
        return version
    return None


def _complete_listings(
    civitai: CivitaiClient, models: dict[int, CivitaiModel], local: list[LocalCivitaiFile]
) -> dict[int, CivitaiModel]:
    """Full answers for the models whose batched listing left out a local file's version.

    The list endpoint has at times answered with only each model's newest
    version (SPEC-APIS.md C.4 #6; StabilityMatrix #551): then a same-base
    update behind a newer other-base version would go unseen. One
    ``/models/{id}`` per such model fills the gap; best effort.
    """
    partial = sorted(
        {
            f.model_id
            for f in local
            if f.model_id in models and models[f.model_id].version(f.version_id) is None
        }
    )
    complete: dict[int, CivitaiModel] = {}
    for model_id in partial:
        with contextlib.suppress(HubError):
            complete[model_id] = civitai.model(model_id)
    return complete


def check_updates(
    catalog: Catalog,
    civitai: CivitaiClient,
    *,
    any_base: bool = False,
    files: Iterable[LocalCivitaiFile] | None = None,
) -> list[Update]:
    """Updates for every local Civitai file (one look-up per 100 models).

    Raises :class:`~.errors.HubError` when Civitai cannot be asked.
    """
    local = list(files) if files is not None else local_civitai_files(catalog)
    if not local:
        return []
    models = civitai.models_by_ids(sorted({f.model_id for f in local}))
    models.update(_complete_listings(civitai, models, local))
    owned = {f.version_id for f in local}
    updates: list[Update] = []
    for file in local:
        model = models.get(file.model_id)
        if model is None:
            continue  # gone from Civitai, or hidden: nothing to offer
        newest = newest_update(model, file, any_base=any_base, owned=owned)
        if newest is not None:
            updates.append(Update(file, model, newest))
    return updates
