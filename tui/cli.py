"""The ``sdhub`` command line: one click group, one module per command.

``sdhub`` alone opens the TUI. Each command's module is imported only when
that command runs (:class:`LazyGroup`); ``sdhub --help`` imports them all,
for their one-line help. Command modules import only click at load time and
their real work lazily, so ``sdhub info`` starts fast: the hash benchmark
counts interpreter start-up (BENCHMARKS.md). click rather than typer for the
same reason: typer's import alone costs a quarter of a second.
"""

from __future__ import annotations

import errno
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


class ReaderGone(Exception):
    """stdout's reader closed the pipe (``sdhub ls | head -1``).

    Raised instead of the ``BrokenPipeError`` itself, which click would turn
    into exit status 1 even outside its standalone mode; :func:`main` ends
    the run quietly with 0 instead.
    """


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, by name."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._lazy, *self.commands})  # click's own order: by name

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
                raise ReaderGone from exc
            raise

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
    """Console-script entry point: the exit statuses of CLI.md whatever happens.

    click's own standalone handling is replaced so that a script always sees
    one of the statuses the contract names, and never a traceback: usage
    errors exit 2; Ctrl-C exits 130; a reader that closes the pipe early
    (``sdhub ls | head -1``) ends the run quietly with 0, as ``info`` and
    ``ls --json`` always did; an unexpected error becomes one line naming it
    and exits 1 (``SDHUB_DEBUG=1`` shows the traceback).
    """
    import sys

    try:
        result = cli.main(prog_name="sdhub", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.ClickException as exc:  # UsageError and friends
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("\nsdhub: interrupted\n")
        code = 130
    except SystemExit as exc:  # the commands' own exit statuses
        code = exc.code
    except (ReaderGone, BrokenPipeError):
        _stdout_to_devnull()
        code = 0
    except Exception as exc:
        from sdhub.config import debug_enabled

        if debug_enabled():
            raise
        from .output import warn

        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        warn(
            f"error: unexpected {type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + " (a bug in sdhub: SDHUB_DEBUG=1 shows where)"
        )
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except (OSError, ValueError):
        pass
    sys.exit(code)


def _stdout_to_devnull() -> None:
    """After the reader is gone, the final flush at exit must not fail again."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
