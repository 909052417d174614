"""``sdhub enrich``: what Civitai knows about local files, asked by SHA-256 in batches.

Files are looked up with the bulk ``POST /api/v1/model-versions/by-hash``
(≤100 SHA-256s per request); the models of the versions found come with one
``GET /api/v1/models?ids=…`` per 100. Everything an answer carries is
recorded (:class:`~.record.Recorder`: trigger words, weights with their
source, previews, licence, description, links by hash), then the sidecars
other tools read are written (``.civitai.info``, a preview, the A1111 ``.json``).

Only real answers are remembered: a file Civitai does not know is recorded
as such (:func:`sdhub.catalog.record_lookups`, so ``--all`` leaves it alone
for a while), but a batch whose request failed (timeout, 5xx, a challenge
page) records nothing at all and its files are reported as failed.

Civitai publishes wrong hashes for some files (SPEC-APIS.md A.4): a manual
link (:meth:`Enricher.link`) fetches the version a person names and links
the file to it whatever the hashes say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sdhub.catalog import (
    Catalog,
    Library,
    LocalFile,
    Site,
    find_asset,
    link_file,
    recently_missed,
    record_lookups,
    resolve_ref,
)
from sdhub.catalog.errors import CatalogError
from sdhub.catalog.lookups import MISS_TTL
from sdhub.models.kinds import Kind
from sqlmodel import select

from .civitai import BATCH, CivitaiClient, CivitaiModel, CivitaiVersion
from .errors import BadReference, HubError, NotFound
from .record import Origin, Recorder
from .refs import CivitaiRef, parse_ref


class EnrichStatus(StrEnum):
    FOUND = "found"  # Civitai knows the file's hash; recorded and linked
    LINKED = "linked"  # linked by hand to the version a person named
    NOT_FOUND = "not-found"  # Civitai answered: no published file has this hash
    SKIPPED = "skipped"  # nothing to ask (no hash: an unreadable file)
    FAILED = "failed"  # the look-up failed (network); nothing was recorded


@dataclass(slots=True)
class EnrichResult:
    """What enriching one local file did (one JSON Lines record of ``enrich --json``)."""

    file_id: int
    path: str
    name: str
    status: EnrichStatus
    version: CivitaiVersion | None = None
    model: CivitaiModel | None = None
    trigger_words: list[str] = field(default_factory=list)
    weight: dict[str, Any] | None = None
    sidecars: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not EnrichStatus.FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "status": self.status.value,
            "source": Origin(version=self.version, model=self.model).civitai_json(),
            "trigger_words": list(self.trigger_words),
            "weight": self.weight,
            "sidecars": [str(p) for p in self.sidecars],
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Selection:
    """The files to enrich, and the references that named no file."""

    files: list[LocalFile]
    problems: list[str]


def select_files(
    catalog: Catalog,
    refs: Sequence[str] = (),
    *,
    everything: bool = False,
    force: bool = False,
    miss_ttl: timedelta = MISS_TTL,
) -> Selection:
    """Files named by ``refs`` (path, name or hash), or with ``everything`` the catalog's
    present, hashed files that are not linked to a remote version yet, less those Civitai
    said it does not know within ``miss_ttl`` (``force``: every present hashed file)."""
    files: list[LocalFile] = []
    problems: list[str] = []
    seen: set[int] = set()
    with catalog.session() as session:
        for ref in refs:
            try:
                row = resolve_ref(session, ref)
            except CatalogError as exc:
                problems.append(str(exc))
                continue
            if row.id not in seen:
                seen.add(row.id)  # type: ignore[arg-type]
                files.append(row)
        if everything:
            query = select(LocalFile).where(
                LocalFile.missing == False,  # noqa: E712
                LocalFile.sha256.is_not(None),
                LocalFile.kind != Kind.INVALID,
            )
            if not force:
                query = query.where(LocalFile.remote_version_id.is_(None))
            rows = [r for r in session.exec(query) if r.id not in seen]
            if not force:
                missed = recently_missed(
                    session, Site.CIVITAI, [r.sha256 for r in rows if r.sha256], ttl=miss_ttl
                )
                rows = [r for r in rows if r.sha256 not in missed]
            rows.sort(key=lambda r: r.path)
            files.extend(rows)
    return Selection(files, problems)


class Enricher:
    """By-hash enrichment and manual links against one Civitai client."""

    def __init__(
        self,
        catalog: Catalog,
        civitai: CivitaiClient,
        *,
        library: Library | None = None,
        previews: bool = False,
        nsfw: bool = False,
    ) -> None:
        self.catalog = catalog
        self.civitai = civitai
        self.library = library
        self.recorder = Recorder(catalog, library, civitai=civitai, previews=previews, nsfw=nsfw)

    # --- by hash ---

    def enrich(self, files: Sequence[LocalFile]) -> Iterator[EnrichResult]:
        """One result per file, a batch of ≤100 at a time; never raises for one batch."""
        hashed: list[LocalFile] = []
        for row in files:
            if row.sha256:
                hashed.append(row)
            else:
                yield self._result(row, EnrichStatus.SKIPPED, error=f"{row.path}: not hashed")
        for start in range(0, len(hashed), BATCH):
            yield from self._batch(hashed[start : start + BATCH])

    def _batch(self, rows: list[LocalFile]) -> Iterator[EnrichResult]:
        hashes = sorted({r.sha256.upper() for r in rows if r.sha256})
        try:
            found = self._look_up(hashes)
        except HubError as exc:
            # Nothing is remembered about a look-up that failed: the next run asks again.
            for row in rows:
                yield self._result(row, EnrichStatus.FAILED, error=f"{row.path}: {exc}")
            return
        models = self._models({v.model_id for v in found.values() if v.model_id is not None})
        with self.catalog.transaction() as session:
            for version in {v.id: v for v in found.values()}.values():
                model = models.get(version.model_id) if version.model_id is not None else None
                self.recorder.civitai_version(session, version, model)
            # Civitai hides mature files from anonymous look-ups with a plain 404, so
            # only a signed-in "unknown" is believed for MISS_TTL; anonymous misses are
            # asked again next time (a bulk look-up is cheap).
            missing = [h for h in hashes if h not in found] if self.civitai.has_token else []
            record_lookups(session, Site.CIVITAI, found=list(found), missing=missing)
        for row in rows:
            version = found.get((row.sha256 or "").upper())
            if version is None:
                yield self._result(
                    row,
                    EnrichStatus.NOT_FOUND,
                    error=f"{row.path}: Civitai knows no file with this SHA256",
                )
                continue
            model = models.get(version.model_id) if version.model_id is not None else None
            yield self._finish(row, EnrichStatus.FOUND, version, model)

    def _look_up(self, hashes: list[str]) -> dict[str, CivitaiVersion]:
        """SHA-256 → version for one batch; the bulk POST, else one GET per hash."""
        try:
            return self.civitai.versions_by_sha256(hashes)
        except HubError as exc:
            # 400/405, or a 404 (JSON, or the web app's HTML page for a route it lacks):
            # no bulk route here. Anything else (429, 5xx, network) fails the batch.
            if exc.status not in (400, 404, 405):
                raise
        # A deployment without the bulk route: ask one by one. Only a JSON 404 means
        # "unknown"; an HTML 404 raises, and the batch records nothing.
        found: dict[str, CivitaiVersion] = {}
        for value in hashes:
            version = self.civitai.version_by_hash(value)
            if version is not None:
                found[value] = version
        return found

    def _models(self, ids: set[int]) -> dict[int, CivitaiModel]:
        """The models of the versions found (description, tags, licence); best effort."""
        if not ids:
            return {}
        try:
            return self.civitai.models_by_ids(sorted(ids))
        except HubError:
            return {}  # the versions alone still carry words, files, hashes and images

    # --- by hand ---

    def link(self, file: LocalFile, ref: CivitaiRef) -> EnrichResult:
        """Link a file to the version a person names (Civitai's hash for it is wrong).

        ``civitai:MODEL`` alone means the model's newest published version.
        Raises :class:`HubError` when Civitai cannot say what the version is.
        """
        version_id = ref.version_id
        model = None
        if version_id is None:
            if ref.model_id is None:
                raise BadReference(f"{ref}: names no model or version")
            model = self.civitai.model(ref.model_id)
            latest = model.latest_version()
            if latest is None:
                raise NotFound(f"{ref}: the model has no published version")
            version_id = latest.id
        version = self.civitai.version(version_id)
        if ref.model_id is not None and version.model_id not in (None, ref.model_id):
            raise BadReference(
                f"{ref}: version {version.id} belongs to model {version.model_id}, "
                f"not {ref.model_id}"
            )
        if model is None and version.model_id is not None:
            with contextlib.suppress(HubError):
                model = self.civitai.model(version.model_id)
        with self.catalog.transaction() as session:
            vrow = self.recorder.civitai_version(session, version, model)
            row = session.get(LocalFile, file.id)
            if row is None:
                raise BadReference(f"{file.path}: no longer in the catalog")
            link_file(session, row, vrow)
        return self._finish(file, EnrichStatus.LINKED, version, model, replace_info=True)

    # --- shared ---

    def _finish(
        self,
        row: LocalFile,
        status: EnrichStatus,
        version: CivitaiVersion,
        model: CivitaiModel | None,
        *,
        replace_info: bool = False,
    ) -> EnrichResult:
        assert row.id is not None
        result = self._result(row, status, version=version, model=model)
        result.sidecars = self.recorder.sidecars(
            row.id, Path(row.path), version, replace_info=replace_info
        )
        with self.catalog.session() as session, contextlib.suppress(CatalogError):
            asset = find_asset(session, row.path)
            result.trigger_words = list(asset.trigger_words)
            result.weight = asset.weight.to_json() if asset.weight else None
        return result

    @staticmethod
    def _result(
        row: LocalFile,
        status: EnrichStatus,
        *,
        version: CivitaiVersion | None = None,
        model: CivitaiModel | None = None,
        error: str | None = None,
    ) -> EnrichResult:
        assert row.id is not None
        return EnrichResult(
            file_id=row.id,
            path=row.path,
            name=row.name,
            status=status,
            version=version,
            model=model,
            error=error,
        )


def civitai_link_ref(text: str, client: CivitaiClient | None = None) -> CivitaiRef:
    """``MODEL@VERSION``, ``@VERSION``, ``MODEL``, ``civitai:…`` or a Civitai URL."""
    value = text.strip()
    hosts = set()
    if client is not None:
        from urllib.parse import urlsplit

        hosts.add(urlsplit(client.base_url).netloc.lower())
    if "://" not in value and not value.lower().startswith(("civitai:", "urn:air:")):
        value = f"civitai:{value}"
    ref = parse_ref(value, civitai_hosts=hosts)
    if not isinstance(ref, CivitaiRef):
        raise BadReference(f"{text!r}: expected MODEL@VERSION (Civitai ids)")
    return ref
