"""``sdhub get`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("get")
def get() -> None:
    """Not built yet."""
    die("`sdhub get` is not built yet")
