"""``sdhub sync`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("sync")
def sync() -> None:
    """Not built yet."""
    die("`sdhub sync` is not built yet")
