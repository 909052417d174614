"""``sdhub get REF…``: download, verify, place and catalog each reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sdhub.catalog import Catalog, Library
    from sdhub.hub.sync import GetRequest, GetResult, ListProblem

    from sdhub.config import Settings

    from ..progress import DownloadDisplay

REF_HELP = """\b
REF forms:
  civitai:MODEL              newest published version's primary file
  civitai:MODEL@VERSION      that version's primary file
  https://civitai.com/models/ID[?modelVersionId=V]
  https://civitai.com/api/download/models/V[?type=…&format=…&size=…&fp=…]
  SHA256 | AutoV2 | AutoV3   the file Civitai publishes with that hash
  hf:OWNER/REPO/PATH[@REV]   one file of a Hugging Face repo
  hf:OWNER/REPO[@REV]        a diffusers repo whole (into models/diffusers/REPO),
                             else its one weight file (several: they are listed)
  https://huggingface.co/OWNER/REPO/blob/REV/PATH (or /resolve/)
"""


@click.command("get", epilog=REF_HELP)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option("--dry-run", is_flag=True, help="Resolve and print the plan; download nothing.")
@click.option(
    "--dest",
    metavar="FOLDER",
    help="Put the files into FOLDER (relative to the library root, or inside it) instead "
    "of the folder each file's kind belongs in.",
)
@click.option("--jobs", "-j", type=click.IntRange(1, 16), help="Parallel downloads (default 3).")
@click.option("--no-previews", is_flag=True, help="Do not save preview images.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one per reference.")
def get(
    refs: tuple[str, ...],
    dry_run: bool,
    dest: str | None,
    jobs: int | None,
    no_previews: bool,
    as_json: bool,
) -> None:
    """Download each REF, verify it against the published SHA-256, place it in the folder its
    (classified) kind belongs in, and record it in the catalog with its trigger words,
    recommended weight and previews; writes the A1111 <name>.json, <name>.civitai.info and
    a preview image next to it.

    A file the catalog already has (same SHA-256) is not downloaded again. An
    interrupted download resumes where it stopped. Needs the library root
    (SDHUB_LIBRARY); CIVITAI_TOKEN and HF_TOKEN where a download needs a login.
    """
    from sdhub.hub.errors import PlacementError
    from sdhub.hub.sync import GetRequest, checked_dest

    from ..output import die
    from . import _remote

    try:
        folder = checked_dest(dest) if dest else None
    except PlacementError as exc:
        die(str(exc))
    settings = _remote.settings()
    _check_refs(refs, settings)
    library = _remote.library(settings)
    if folder is not None and not _inside(library, folder):
        die(f"--dest {dest}: outside the library root {library.root}")
    requests = [GetRequest(ref, folder) for ref in refs]
    raise SystemExit(
        run_requests(
            requests, [], dry_run=dry_run, jobs=jobs, previews=not no_previews, as_json=as_json
        )
    )


def _check_refs(refs: tuple[str, ...], settings: Settings) -> None:
    """A REF on the command line that fits no form is a usage error (exit 2), found before
    anything is fetched; in a list file (`sync`) it is one failed line instead."""
    from sdhub.hub.errors import BadReference
    from sdhub.hub.sync import ref_parser, remote_ref

    from ..output import die
    from . import _remote

    with _remote.civitai(settings) as civitai:
        parse = ref_parser(civitai, _remote.hf(settings))
    for text in refs:
        try:
            remote_ref(text, parse)
        except BadReference as exc:
            die(str(exc))


def run_requests(
    requests: list[GetRequest],
    problems: list[ListProblem],
    *,
    dry_run: bool,
    jobs: int | None,
    previews: bool,
    as_json: bool,
) -> int:
    """Run requests with one progress display; print a line per item; the exit status."""
    import threading

    from sdhub.hub.sync import GetStatus, Sync

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, emit_json, warn
    from ..progress import DownloadDisplay
    from . import _remote

    settings = _remote.settings()
    library = _remote.library(settings)
    for request in requests:
        if request.dest is not None and not _inside(library, request.dest):
            problems.append(_outside(request, library))
    requests = [r for r in requests if r.dest is None or _inside(library, r.dest)]
    catalog = _remote.catalog(settings)
    cancel = threading.Event()
    counts: dict[str, int] = {}
    failed = bool(problems)
    for problem in problems:
        counts["failed"] = counts.get("failed", 0) + 1
        if as_json:  # the fields of every other record, so a script reads one shape
            emit_json(
                {
                    "ref": problem.text,
                    "where": problem.where,
                    "status": "failed",
                    "path": None,
                    "kind": None,
                    "base": None,
                    "size": None,
                    "hashes": None,
                    "source": None,
                    "sidecars": [],
                    "warnings": [],
                    "error": str(problem),
                }
            )
        else:
            warn(f"error: {problem}")
    with (
        catalog,
        _remote.civitai(settings) as civitai,
        DownloadDisplay(enabled=None if not dry_run else False) as display,
        _remote.ctrl_c_cancels(cancel),
        Sync(
            catalog,
            library,
            civitai=civitai,
            hf=_remote.hf(settings),
            jobs=jobs or settings.jobs,
            nsfw=settings.nsfw,
            previews=previews,
            on_progress=display.update,
            cancel=cancel,
        ) as sync,
    ):
        for result in sync.run(requests, dry_run=dry_run):
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
            failed |= not result.ok
            if as_json:
                emit_json(_with_file_facts(catalog, result.to_json()))
            else:
                _print_result(display, library, result)
    if not as_json and (len(requests) + len(problems)) > 1:
        warn(", ".join(f"{n} {status}" for status, n in counts.items()))
    if cancel.is_set() or counts.get(GetStatus.CANCELLED.value):
        return 130
    return EXIT_ITEM_FAILED if failed else EXIT_OK


def _with_file_facts(catalog: Catalog, record: dict[str, Any]) -> dict[str, Any]:
    """A skipped item (the library already has the bytes) names the file it has, with the
    kind, base and hashes the catalog knows: a script reads the same fields whatever the
    status."""
    if record.get("kind") is not None or not record.get("path"):
        return record
    from sdhub.catalog import CatalogError, find_asset

    try:
        with catalog.session() as session:
            known = find_asset(session, record["path"]).to_json()
    except CatalogError:
        return record
    for key in ("kind", "base", "size", "hashes"):
        if record.get(key) is None:
            record[key] = known.get(key)
    return record


def _inside(library: Library, dest: Path) -> bool:
    import os

    target = dest if dest.is_absolute() else library.root / dest
    target = Path(os.path.normpath(os.path.abspath(target)))
    return target == library.root or target.is_relative_to(library.root)


def _outside(request: GetRequest, library: Library) -> ListProblem:
    from sdhub.hub.sync import ListProblem

    where = request.where or request.text
    return ListProblem(
        where, request.text, f"{request.dest}: outside the library root {library.root}"
    )


def _shown(library: Library, path: Path | None) -> str:
    if path is None:
        return "?"
    relative = library.relative(path)
    return str(path) if relative is None else str(relative)


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _print_result(display: DownloadDisplay, library: Library, result: GetResult) -> None:
    from ..output import scrub, warn

    def show(line: str, *, stdout: bool = True) -> None:
        display.print(scrub(line), stdout=stdout)

    status = result.status.value
    where = f"{result.request.where}: " if result.request.where else ""
    if status in ("failed", "cancelled"):
        message = result.error or status
        warn(f"error: {where}{message}" if status == "failed" else f"{where}{message}")
        return
    if status == "planned":
        plan = result.plan
        assert plan is not None
        if plan.have is not None:
            line = (
                f"would skip {result.ref}: already in the library at {_shown(library, plan.have)}"
            )
        else:
            folder = _shown(library, plan.folder) if plan.folder else "the folder of its kind"
            verb = "would fetch the repository" if plan.action.value == "snapshot" else "would get"
            line = f"{verb} {result.ref}: {plan.name} ({_size(plan.size)}) → {folder}"
        show(line)
        return
    report = result.download.report if result.download else None
    detail = f" ({report.kind.value}, {report.base.value}, {_size(report.size)})" if report else ""
    if status == "skipped":
        line = f"skipped {result.ref}: already in the library at {_shown(library, result.path)}"
    elif status == "exists":
        line = f"exists {result.ref}: {_shown(library, result.path)}{detail}"
    else:
        line = f"downloaded {result.ref} → {_shown(library, result.path)}{detail}"
    show(line)
    for warning in result.warnings:
        show(f"  warning: {warning}", stdout=False)
