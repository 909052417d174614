"""What sdhub writes down once a file is fetched or looked up: catalog rows, links, sidecars.

One implementation for every job that learns about files from a remote
site, whichever front end started it: ``sdhub get``/``sync`` and the
browser's download queue (:class:`~.sync.Sync`), ``sdhub enrich`` and the
browser's enrich action (:class:`~.enrich.Enricher`).

- :meth:`Recorder.remote`: what the site said about an :class:`Origin`
  (version, files and published hashes, trigger words, weights, example
  images, licence, description); the catalog links every local file whose
  SHA-256 a published file has;
- :meth:`Recorder.download`: a placed file's row, what it came from, and the link
  to the version it came from when no published hash made one (Civitai
  publishes wrong hashes for some files);
- :meth:`Recorder.sidecars`: what other tools read next to the file — Civitai
  Helper's ``.civitai.info``, a preview image under the NSFW rule
  (:mod:`.sidecars`), the A1111 ``<stem>.json`` — told to the catalog as a
  scan would (:func:`sdhub.catalog.note_written_sidecars`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdhub.catalog import (
    Catalog,
    Library,
    LinkSource,
    LocalFile,
    RemoteVersion,
    Site,
    file_by_path,
    link_file,
    note_written_sidecars,
    record_civitai_version,
    record_file,
    record_hf_file,
    version_by_remote_id,
    write_a1111_sidecar,
)
from sdhub.catalog.errors import SidecarError
from sdhub.catalog.sidecars import A1111_JSON, sidecar_path
from sdhub.models.layouts import Layout
from sdhub.models.report import FileReport
from sqlmodel import Session

from .civitai import CivitaiClient, CivitaiModel, CivitaiVersion
from .download import DownloadResult, DownloadStatus
from .huggingface import HfClient, HfFile, HfRepo
from .sidecars import choose_preview, existing_preview, save_preview, write_civitai_info


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a file came from, as far as its look-up found out.

    A Civitai version (with its model, whose description, tags and licence a
    version answer lacks), or Hugging Face files of one repo at one commit
    (with the repo's facts); empty for a plain URL.
    """

    version: CivitaiVersion | None = None
    model: CivitaiModel | None = None
    hf_files: tuple[HfFile, ...] = ()
    hf_repo: HfRepo | None = None

    @property
    def link_key(self) -> tuple[Site, str] | None:
        """The catalog's ``(site, remote id)`` of the version the file came from."""
        if self.version is not None:
            return Site.CIVITAI, str(self.version.id)
        if self.hf_files:
            first = self.hf_files[0]
            return Site.HF, f"{first.repo}@{first.revision}"
        return None

    def civitai_json(self) -> dict[str, Any] | None:
        """The ``source`` record of ``get``/``enrich --json`` for a Civitai origin."""
        if self.version is None:
            return None
        return {
            "site": "civitai",
            "model_id": self.version.model_id,
            "version_id": self.version.id,
            "model_name": self.version.model_name or (self.model.name if self.model else None),
            "version_name": self.version.name,
            "base_model": self.version.base_model,
        }


def hf_info(repo: HfRepo) -> dict[str, Any]:
    """The repo facts :func:`sdhub.catalog.record_hf_file` keeps, in the Hub's JSON spelling."""
    info = {
        "id": repo.id,
        "sha": repo.sha,
        "author": repo.author,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "tags": list(repo.tags),
        "pipeline_tag": repo.pipeline_tag,
        "library_name": repo.library_name,
        "gated": repo.gated,
        "lastModified": repo.last_modified,
    }
    return {k: v for k, v in info.items() if v not in (None, [], "")}


@dataclass(slots=True)
class Recorder:
    """Writes down what a job learnt, into one catalog and next to the files of one library.

    ``civitai`` and ``hf`` name the sites (the catalog keeps their URLs);
    the Civitai client's session also fetches previews. ``previews``: save
    a preview image next to a file (only PG/PG-13 ones unless ``nsfw``).
    Sidecars are written only inside ``library`` (anywhere when None).
    """

    catalog: Catalog
    library: Library | None = None
    civitai: CivitaiClient | None = None
    hf: HfClient | None = None
    previews: bool = False
    nsfw: bool = False

    @property
    def layout(self) -> Layout:
        return self.library.layout if self.library is not None else Layout.A1111

    # --- the catalog ---

    def civitai_version(
        self, session: Session, version: CivitaiVersion, model: CivitaiModel | None = None
    ) -> RemoteVersion:
        """Record one Civitai version (and its model when known); links files by hash."""
        kwargs = {"site_url": self.civitai.base_url} if self.civitai is not None else {}
        return record_civitai_version(
            session, version.raw, model=model.raw if model is not None else None, **kwargs
        )

    def remote(self, session: Session, origin: Origin) -> None:
        """Record what the site said about ``origin``."""
        if origin.version is not None:
            self.civitai_version(session, origin.version, origin.model)
            return
        info = hf_info(origin.hf_repo) if origin.hf_repo is not None else None
        kwargs = {"endpoint": self.hf.endpoint} if self.hf is not None else {}
        for file in origin.hf_files:
            record_hf_file(
                session,
                repo=file.repo,
                path=file.path,
                revision=file.revision,
                sha256=file.sha256,
                size=file.size,
                info=info,
                **kwargs,
            )

    def download(self, origin: Origin, result: DownloadResult) -> int | None:
        """Record a download's file (placed, or skipped: already in the catalog) and origin."""
        if result.path is None:
            return None
        report = None if result.status is DownloadStatus.SKIPPED else result.report
        if report is not None and report.hashes is None:
            report.hashes = result.hashes  # the engine hashed while streaming
        return self.file(origin, result.path, report)

    def file(self, origin: Origin, path: Path, report: FileReport | None = None) -> int | None:
        """Record ``origin`` and the file at ``path``, linked to the version it came from.

        ``report``: of bytes just placed (the row is written from it); None for
        a file the catalog already has. Returns the file's catalog id (None:
        not in the catalog).
        """
        with self.catalog.transaction() as session:
            self.remote(session, origin)
            if report is not None:
                row = record_file(session, path, report)
            else:
                row = file_by_path(session, path)
            if row is None:
                return None
            self._link(session, row, origin)
            return row.id

    @staticmethod
    def _link(session: Session, row: LocalFile, origin: Origin) -> None:
        """Link to the version the file came from when no published hash did it."""
        key = origin.link_key
        if key is None or row.remote_version_id is not None:
            return
        version = version_by_remote_id(session, *key)
        if version is not None:
            link_file(session, row, version, source=LinkSource.DOWNLOAD)

    # --- next to the file ---

    def writes_sidecars(self, path: Path) -> bool:
        return path.is_file() and (self.library is None or self.library.contains(path))

    def sidecars(
        self,
        file_id: int,
        path: Path,
        version: CivitaiVersion | None = None,
        *,
        replace_info: bool = False,
    ) -> list[Path]:
        """``.civitai.info`` and a preview (for a Civitai version), the A1111 ``.json``.

        ``replace_info``: rewrite an existing ``.civitai.info`` even when it names
        the same version (a manual link). Returns the sidecars now next to the file.
        """
        if not self.writes_sidecars(path):
            return []
        written: list[Path] = []
        if version is not None:
            with contextlib.suppress(OSError):
                info = write_civitai_info(path, version.raw, replace=replace_info)
                if info is not None:
                    written.append(info)
            preview = self._preview(path, version)
            if preview is not None:
                written.append(preview)
        if written:
            with self.catalog.transaction() as session:
                row = session.get(LocalFile, file_id)
                if row is not None:
                    note_written_sidecars(session, row, written)
        a1111 = self.a1111(file_id)
        if a1111 is not None and a1111.exists():
            written.append(a1111)
        return written

    def _preview(self, path: Path, version: CivitaiVersion) -> Path | None:
        if not self.previews or self.civitai is None or existing_preview(path) is not None:
            return None
        image = choose_preview(version.images, nsfw=self.nsfw)
        if image is None:
            return None
        return save_preview(self.civitai.session, path, image)

    def a1111(self, file_id: int) -> Path | None:
        """Write (merge into) the A1111 ``<stem>.json`` of a file in an A1111 layout.

        Best effort, in its own transaction after the knowledge is committed: a
        sidecar a person broke is left alone. Returns its path (None: no sidecar).
        """
        if self.layout is not Layout.A1111:
            return None
        with contextlib.suppress(SidecarError, OSError), self.catalog.transaction() as session:
            row = session.get(LocalFile, file_id)
            if row is not None:
                write_a1111_sidecar(session, row)
                return sidecar_path(row.path, A1111_JSON)
        return None
