"""``sdhub demo [--path DIR] [--no-open]``: a sample library, catalogued, opened in the browser.

The demo keeps everything inside DIR: its library in ``DIR/webui`` and its
own SDHUB_HOME (catalog, config, trash) in ``DIR/sdhub-home``, so it never
touches your real catalog or config. ``--no-open`` prints the environment
that points sdhub at it instead.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--path",
    "path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the demo (default: a new temporary folder).",
)
@click.option(
    "--no-open", is_flag=True, help="Build, scan and print where; do not open the browser."
)
@click.option(
    "--render-assets/--no-render-assets",
    default=None,
    help="Add the tiny renderable checkpoint and assets (default: when torch is installed).",
)
def demo(path: Path | None, no_open: bool, render_assets: bool | None) -> None:
    """Build a small sample library (every kind of model file) and open the browser on it.

    Fully offline. The demo has its own catalog and config inside the folder:
    your own library and catalog are never touched.
    """
    import os
    import shlex
    import tempfile

    from rich.markup import escape

    from ..output import EXIT_ITEM_FAILED, die, stderr_console

    console = stderr_console()
    dest = path if path is not None else Path(tempfile.mkdtemp(prefix="sdhub-demo-"))
    from sdhub.hub.demo import build_demo

    try:
        library = build_demo(
            dest,
            renderable=render_assets,
            on_step=lambda message: console.print(f"[dim]demo:[/] {escape(message)}"),
        )
    except (OSError, ValueError) as exc:
        die(str(exc), EXIT_ITEM_FAILED)
    report = library.report
    stats = report.stats if report else None
    console.print(
        f"[bold]demo library[/] {escape(str(library.root))}: "
        f"{stats.files if stats else 0} files catalogued in {library.seconds:.1f} s"
        + (
            f"; {len(report.misplaced)} misplaced, {len(report.duplicates)} duplicate group(s), "
            f"{sum(p.problem == 'dangerous' for p in report.problems)} unsafe"
            if report
            else ""
        )
    )
    for note in library.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    env = library.env()
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    if no_open:
        click.echo(str(library.root))
        click.echo("Use it with:", err=True)
        click.echo(f"  {exports} sdhub", err=True)
        if library.renderable:
            click.echo(f"  {exports} sdhub render --all --device cpu", err=True)
        return
    os.environ.update(env)
    click.echo(f"to come back later: {exports} sdhub", err=True)
    from .browse import open_browser

    open_browser()
