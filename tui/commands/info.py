"""``sdhub info`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("info")
def info() -> None:
    """Not built yet."""
    die("`sdhub info` is not built yet")
