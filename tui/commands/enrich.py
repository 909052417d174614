"""``sdhub enrich`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("enrich")
def enrich() -> None:
    """Not built yet."""
    die("`sdhub enrich` is not built yet")
