"""The ``sdhub`` command line: one click group, one module per command.

``sdhub`` alone opens the TUI. Each command's module is imported only when
that command runs (:class:`LazyGroup`); ``sdhub --help`` imports them all,
for their one-line help. Command modules import only click at load time and
their real work lazily, so ``sdhub info`` starts fast: the hash benchmark
counts interpreter start-up (BENCHMARKS.md). click rather than typer for the
same reason: typer's import alone costs a quarter of a second.
"""

from __future__ import annotations

import importlib

import click

from sdhub import __version__

#: Command name → (module under ``sdhub.tui.commands``, attribute).
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("info", "info"),
    "scan": ("scan", "scan"),
    "ls": ("library", "ls"),
    "show": ("library", "show"),
    "prompt": ("library", "prompt"),
    "place": ("place", "place"),
    "search": ("search", "search"),
    "get": ("get", "get"),
    "sync": ("sync", "sync"),
    "enrich": ("enrich", "enrich"),
    "updates": ("updates", "updates"),
    "render": ("render", "render"),
    "demo": ("demo", "demo"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, by name."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._lazy, *self.commands})  # click's own order: by name

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name]
            module = importlib.import_module(f"{__package__}.commands.{module_name}")
            command = getattr(module, attr)
            if command.name != cmd_name:  # a table slip must not go unnoticed
                raise RuntimeError(f"sdhub.tui.commands.{module_name}.{attr} is {command.name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    name="sdhub",
    cls=LazyGroup,
    lazy=COMMANDS,
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


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
