"""``sdhub place`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("place")
def place() -> None:
    """Not built yet."""
    die("`sdhub place` is not built yet")
