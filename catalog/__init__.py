"""What sdhub knows: the SQLModel catalog, incremental library scan, sidecar files.

May import :mod:`sdhub.models`; never touches the network.

The public surface (everything else is an implementation detail)::

    catalog = open_catalog()                      # configured URL; migrates to head
    with catalog.session() as s:                  # reading
        assets = list_assets(s, kind="lora", query="style")
        asset = find_asset(s, "mystyle")          # path, name, AutoV2/AutoV3/SHA256
        snippet = prompt_snippet(asset)
    with catalog.transaction() as s:              # writing (BEGIN IMMEDIATE on SQLite)
        row = record_file(s, path, report)        # after a download
        record_civitai_version(s, version_json)   # links files by SHA-256
        write_a1111_sidecar(s, row)
    report = scan_library(catalog, [root], library=open_library(root))

Writes go through :meth:`Catalog.transaction` (``BEGIN IMMEDIATE`` on SQLite,
so a TUI, a download and a scan share one catalog without "database is
locked"); reads through :meth:`Catalog.session`.
"""

from __future__ import annotations

from .assets import (
    Asset,
    RemoteSource,
    RenderInfo,
    duplicate_groups,
    find_asset,
    list_assets,
    load_asset,
    name_clashes,
    resolve_ref,
)
from .db import HEAD_REVISION, Catalog, current_revision, open_catalog, upgrade_schema
from .enums import LinkSource, Origin, ScanEvent, Site, Source, WeightSource
from .errors import (
    AmbiguousRefError,
    CatalogError,
    MalformedRefError,
    RefNotFoundError,
    SidecarError,
)
from .files import (
    file_by_path,
    link_by_hash,
    link_file,
    mark_missing,
    move_record,
    normpath,
    record_file,
)
from .knowledge import (
    DEFAULT_WEIGHT,
    PreviewInfo,
    WeightInfo,
    set_previews,
    set_trigger_words,
    set_weight,
)
from .library import Library, Placement, judge_placement, open_library
from .lookups import lookup_of, recently_missed, record_lookups
from .prompt import PromptSnippet, format_weight, prompt_snippet
from .remote import (
    record_civitai_model,
    record_civitai_version,
    record_cm_info,
    record_hf_file,
    version_by_remote_id,
)
from .renders import record_render_result, render_history
from .scan import FileEvent, ScanProgress, ScanReport, configured_library, scan_library
from .sidecars import (
    SIDECAR_SUFFIXES,
    find_sidecars,
    import_sidecars,
    merge_a1111,
    note_written_sidecars,
    sidecar_path,
    write_a1111_sidecar,
)
from .tables import (
    LocalFile,
    Preview,
    RemoteFile,
    RemoteLookup,
    RemoteModel,
    RemoteVersion,
    RenderResult,
    TriggerWord,
    Weight,
)
from .vocab import civitai_base

__all__ = [
    "DEFAULT_WEIGHT",
    "HEAD_REVISION",
    "SIDECAR_SUFFIXES",
    "AmbiguousRefError",
    "Asset",
    "Catalog",
    "CatalogError",
    "FileEvent",
    "Library",
    "LinkSource",
    "LocalFile",
    "MalformedRefError",
    "Origin",
    "Placement",
    "Preview",
    "PreviewInfo",
    "PromptSnippet",
    "RefNotFoundError",
    "RemoteFile",
    "RemoteLookup",
    "RemoteModel",
    "RemoteSource",
    "RemoteVersion",
    "RenderInfo",
    "RenderResult",
    "ScanEvent",
    "ScanProgress",
    "ScanReport",
    "SidecarError",
    "Site",
    "Source",
    "TriggerWord",
    "Weight",
    "WeightInfo",
    "WeightSource",
    "civitai_base",
    "configured_library",
    "current_revision",
    "duplicate_groups",
    "file_by_path",
    "find_asset",
    "find_sidecars",
    "format_weight",
    "import_sidecars",
    "judge_placement",
    "link_by_hash",
    "link_file",
    "list_assets",
    "load_asset",
    "lookup_of",
    "mark_missing",
    "merge_a1111",
    "move_record",
    "name_clashes",
    "normpath",
    "note_written_sidecars",
    "open_catalog",
    "open_library",
    "prompt_snippet",
    "recently_missed",
    "record_civitai_model",
    "record_civitai_version",
    "record_cm_info",
    "record_file",
    "record_hf_file",
    "record_lookups",
    "record_render_result",
    "render_history",
    "resolve_ref",
    "scan_library",
    "set_previews",
    "set_trigger_words",
    "set_weight",
    "sidecar_path",
    "upgrade_schema",
    "version_by_remote_id",
    "write_a1111_sidecar",
]
