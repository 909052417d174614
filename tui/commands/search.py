"""``sdhub search`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("search")
def search() -> None:
    """Not built yet."""
    die("`sdhub search` is not built yet")
