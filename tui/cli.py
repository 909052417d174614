"""The ``sdhub`` command line: one click group, one module per command.

``sdhub`` alone opens the TUI. Command modules import only click at load
time and their real work lazily, so ``sdhub --help`` and ``sdhub info`` start
fast (the hash benchmark counts interpreter start-up, see BENCHMARKS.md).
click rather than typer for the same reason: typer's import alone costs a
quarter of a second.
"""

from __future__ import annotations

import click

from sdhub import __version__

from .commands import demo, enrich, get, info, library, place, render, scan, search, sync, updates


@click.group(
    name="sdhub",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="sdhub", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Model manager and asset hub for Stable Diffusion (A1111/Forge, ComfyUI).

    Run without a command to open the terminal browser on your library.
    """
    if ctx.invoked_subcommand is None:
        from .commands.browse import open_browser

        open_browser()


for _command in (
    info.info,
    scan.scan,
    library.ls,
    library.show,
    library.prompt,
    place.place,
    search.search,
    get.get,
    sync.sync,
    enrich.enrich,
    updates.updates,
    render.render,
    demo.demo,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
