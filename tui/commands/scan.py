"""``sdhub scan`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("scan")
def scan() -> None:
    """Not built yet."""
    die("`sdhub scan` is not built yet")
