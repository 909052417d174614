"""``sdhub updates``: newer published versions of local Civitai assets."""

from __future__ import annotations

import click


@click.command("updates")
@click.option(
    "--any-base",
    is_flag=True,
    help="Also versions made for another base model (default: the same Civitai base only).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one per update.")
def updates(any_base: bool, as_json: bool) -> None:
    """List catalogued files linked to a Civitai version for which a newer version of the
    same model is published, made for the same base model (e.g. "SD 1.5", "Pony").

    One request per 100 models. Fetch an update with `sdhub get REF`; feed the
    refs to `sdhub sync -` to fetch them all.
    """
    from sdhub.hub.errors import HubError
    from sdhub.hub.updates import check_updates

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, emit_json, warn
    from . import _remote

    settings = _remote.settings()
    catalog = _remote.catalog(settings)
    with catalog, _remote.civitai(settings) as civitai:
        try:
            found = check_updates(catalog, civitai, any_base=any_base)
        except HubError as exc:
            warn(f"error: cannot check for updates: {exc}")
            raise SystemExit(EXIT_ITEM_FAILED) from None
    if as_json:
        for update in found:
            emit_json(update.to_json())
        raise SystemExit(EXIT_OK)
    if not found:
        warn("no updates")
        raise SystemExit(EXIT_OK)
    from rich.table import Table

    from ..output import stdout_console

    table = Table(box=None, pad_edge=False)
    for column in ("name", "model", "local version", "newest", "base", "ref"):
        # The REF is what people copy: it never wraps; the other columns give way.
        table.add_column(column, overflow="fold", no_wrap=column == "ref")
    for update in found:
        table.add_row(
            update.local.name,
            update.model.name,
            update.local.version_name or str(update.local.version_id),
            update.newest.name,
            update.newest.base_model or "?",
            update.ref,
        )
    stdout_console().print(table)
    raise SystemExit(EXIT_OK)
