"""``sdhub ls``, ``sdhub show``, ``sdhub prompt`` (not built yet)."""

from __future__ import annotations

import click

from ..output import die


@click.command("ls")
def ls() -> None:
    """Not built yet."""
    die("`sdhub ls` is not built yet")


@click.command("show")
def show() -> None:
    """Not built yet."""
    die("`sdhub show` is not built yet")


@click.command("prompt")
def prompt() -> None:
    """Not built yet."""
    die("`sdhub prompt` is not built yet")
