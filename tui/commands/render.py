"""``sdhub render`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("render")
def render() -> None:
    """Not built yet."""
    die("`sdhub render` is not built yet")
