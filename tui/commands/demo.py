"""``sdhub demo`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("demo")
def demo() -> None:
    """Not built yet."""
    die("`sdhub demo` is not built yet")
