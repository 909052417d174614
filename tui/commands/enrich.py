"""``sdhub enrich [REF…|--all]``: look local files up on Civitai by hash; record what it says."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sdhub.catalog import Catalog
    from sdhub.hub.enrich import EnrichResult


@click.command("enrich")
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option("--all", "everything", is_flag=True, help="Every catalogued file not yet linked.")
@click.option(
    "--force",
    is_flag=True,
    help="With --all: also files already linked, and files Civitai recently did not know.",
)
@click.option(
    "--civitai",
    "link",
    metavar="MODEL@VERSION",
    help="Link the one REF to this Civitai version by hand (its published hash is wrong).",
)
@click.option("--previews", is_flag=True, help="Also save a preview image next to each file.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one per file.")
def enrich(
    refs: tuple[str, ...],
    everything: bool,
    force: bool,
    link: str | None,
    previews: bool,
    as_json: bool,
) -> None:
    """Look each local file (REF: a path, an asset name or a hash) up on Civitai by its
    SHA-256, 100 per request, and record what comes back: trigger words, recommended
    weight, previews, licence, description, the link to the version. Writes the A1111
    <name>.json and <name>.civitai.info next to each file found.

    Files Civitai does not know are reported (and, with --all, not asked about again
    for 30 days unless --force); a look-up that failed on the network records nothing.
    `sdhub enrich PATH --civitai MODEL@VERSION` links a file whose Civitai hash is wrong.
    """
    from sdhub.catalog import LocalFile
    from sdhub.hub.enrich import Enricher, civitai_link_ref, select_files
    from sdhub.hub.errors import BadReference, HubError

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, die, emit_json, warn
    from . import _remote

    if not refs and not everything:
        die("name files to enrich (REF…) or pass --all")
    if link is not None and (len(refs) != 1 or everything):
        die("--civitai links exactly one REF (a path, a name or a hash)")
    settings = _remote.settings()
    library = _remote.library(settings) if settings.library is not None else None
    catalog = _remote.catalog(settings)
    failed = False
    with catalog, _remote.civitai(settings) as civitai:
        link_ref = None
        if link is not None:
            try:
                link_ref = civitai_link_ref(link, civitai)
            except BadReference as exc:  # a usage error, found before anything is asked
                die(f"--civitai {link}: {exc}")
        enricher = Enricher(
            catalog, civitai, library=library, previews=previews, nsfw=settings.nsfw
        )
        unknown, ref_of = _resolve(catalog, refs)
        for ref, problem in unknown.items():
            failed = True
            if as_json:
                emit_json({"ref": ref, "path": None, "status": "failed", "error": problem})
            else:
                warn(f"error: {problem}")
        selection = select_files(
            catalog, [r for r in refs if r not in unknown], everything=everything, force=force
        )
        for problem in selection.problems:  # a file gone between the two looks
            failed = True
            if as_json:
                emit_json({"ref": None, "path": None, "status": "failed", "error": problem})
            else:
                warn(f"error: {problem}")
        if link_ref is not None:
            if not selection.files:
                raise SystemExit(EXIT_ITEM_FAILED)
            try:
                file: LocalFile = selection.files[0]
                result = enricher.link(file, link_ref)
            except HubError as exc:
                die(f"{refs[0]}: {exc}", EXIT_ITEM_FAILED)
            _report(result, as_json, ref_of)
            raise SystemExit(EXIT_OK if not failed else EXIT_ITEM_FAILED)
        if not selection.files and everything and not as_json:
            warn("nothing to enrich: every file is linked or was looked up recently (--force)")
        counts: dict[str, int] = {}
        try:
            for result in enricher.enrich(selection.files):
                counts[result.status.value] = counts.get(result.status.value, 0) + 1
                failed |= not result.ok
                _report(result, as_json, ref_of)
        except KeyboardInterrupt:
            die("interrupted: every batch finished so far is recorded", 130)
    if not as_json and sum(counts.values()) > 1:
        warn(", ".join(f"{n} {status}" for status, n in counts.items()))
    raise SystemExit(EXIT_ITEM_FAILED if failed else EXIT_OK)


def _resolve(catalog: Catalog, refs: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """(REF → why it names no single file, path → the REF that named it). A REF that is
    no reference at all is a usage error (exit 2); the others are failed items, each
    reported with its REF."""
    from sdhub.catalog import CatalogError, MalformedRefError, resolve_ref

    from ..output import die

    out: dict[str, str] = {}
    ref_of: dict[str, str] = {}
    with catalog.session() as session:
        for ref in refs:
            try:
                ref_of.setdefault(resolve_ref(session, ref).path, ref)
            except MalformedRefError as exc:
                die(str(exc))
            except CatalogError as exc:
                out[ref] = str(exc)
    return out, ref_of


def _report(result: EnrichResult, as_json: bool, ref_of: dict[str, str] | None = None) -> None:
    from ..output import emit_json, warn

    if as_json:
        record = result.to_json()
        emit_json({"ref": (ref_of or {}).get(str(record.get("path"))), **record})
        return
    status = result.status.value
    if status == "failed":
        warn(f"error: {result.error}")
        return
    if status in ("not-found", "skipped"):
        warn(f"{status}: {result.error or result.path}")
        return
    version = result.version
    assert version is not None
    title = version.model_name or (result.model.name if result.model else None) or "?"
    words = ", ".join(result.trigger_words) or "no trigger words"
    weight = ""
    if result.weight and result.weight.get("source") != "default":
        weight = f", weight {result.weight['default']:g} ({result.weight['source']})"
    verb = "linked" if status == "linked" else "found"
    click.echo(
        f"{verb} {result.name}: {title} · {version.name} "
        f"(civitai:{version.model_id}@{version.id}; {words}{weight})"
    )
