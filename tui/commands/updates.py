"""``sdhub updates`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("updates")
def updates() -> None:
    """Not built yet."""
    die("`sdhub updates` is not built yet")
