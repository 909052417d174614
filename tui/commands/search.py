"""``sdhub search QUERY``: search Civitai or the Hugging Face Hub."""

from __future__ import annotations

import click

_KINDS = ["checkpoint", "lora", "embedding", "hypernetwork", "vae", "other"]
_BASES = ["sd1", "sd2", "sdxl", "sdxl-refiner", "sd3", "flux"]
_SORTS = ["relevance", "downloads", "newest", "rated"]


@click.command("search")
@click.argument("query", nargs=-1)
@click.option(
    "--source", type=click.Choice(["civitai", "hf"]), default="civitai", show_default=True
)
@click.option(
    "--kind", type=click.Choice(_KINDS, case_sensitive=False), help="Only this kind of model."
)
@click.option(
    "--base",
    type=click.Choice(_BASES, case_sensitive=False),
    help="Only models for this base family.",
)
@click.option("--sort", type=click.Choice(_SORTS), default="relevance", show_default=True)
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--nsfw", is_flag=True, help="Include mature content (default: the setting).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one per hit.")
def search(
    query: tuple[str, ...],
    source: str,
    kind: str | None,
    base: str | None,
    sort: str,
    limit: int,
    nsfw: bool,
    as_json: bool,
) -> None:
    """Search remote models. Each hit shows the REF `sdhub get` takes (the newest
    published version on Civitai, the repository on Hugging Face)."""
    from sdhub.hub.browse import RemoteSite, RemoteSort, SearchFilters
    from sdhub.hub.errors import HubError
    from sdhub.hub.search import hit_json, hit_ref, search_hits
    from sdhub.models.kinds import Base, Kind

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, emit_json, stdout_console, warn
    from . import _remote

    settings = _remote.settings()
    if source == "hf":  # the Hub knows no base families and one kind tag: say so, not ignore
        if base:
            warn(f"--base {base}: Hugging Face has no base-model filter; hits are not filtered")
        if kind and kind != "lora":
            warn(f"--kind {kind}: Hugging Face can filter LoRAs only; hits are not filtered")
    filters = SearchFilters(
        query=" ".join(query).strip(),
        site=RemoteSite(source),
        kind=Kind(kind) if kind else None,
        base=Base(base) if base else None,
        sort=RemoteSort(sort),
        nsfw=nsfw or settings.nsfw,
    )
    try:
        with _remote.civitai(settings) as civitai:
            hits = search_hits(
                filters,
                limit=limit,
                civitai=civitai if source == "civitai" else None,
                hf=_remote.hf(settings) if source == "hf" else None,
            )
    except HubError as exc:
        warn(f"error: search failed: {exc}")
        raise SystemExit(EXIT_ITEM_FAILED) from None
    if as_json:
        for hit in hits:
            emit_json(hit_json(hit))
        raise SystemExit(EXIT_OK)
    if not hits:
        warn("no results")
        raise SystemExit(EXIT_OK)
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "type", "base", "creator", "downloads", "ref"):
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column == "downloads" else "left",
            no_wrap=column == "ref",  # what people copy: never cut in two
        )
    for hit in hits:
        kind_text = hit.kind.value if hit.kind else "?"
        table.add_row(
            hit.name,
            f"{hit.type_label}/{kind_text}" if hit.type_label.lower() != kind_text else kind_text,
            hit.base_label or "",
            hit.creator or "",
            "" if hit.downloads is None else f"{hit.downloads:,}",
            hit_ref(hit),
        )
    stdout_console().print(table)
    raise SystemExit(EXIT_OK)
