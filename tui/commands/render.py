"""``sdhub render``: validation renders of catalogued assets against the reference grid.

Thin: selection, base choice, rendering and recording live in
:mod:`sdhub.hub.render`; this module parses flags, draws progress on stderr
and prints the results (a table, or one CLI.md render object per asset with
``--json``). Loading this module imports only click; torch loads when the
first base does.

Exit status: 0 all good; 1 some asset failed — ``error``, ``nan`` or
``black`` always, ``no-effect`` or ``incompatible`` for an asset named on the
command line (``--strict``: anything but ``ok``), or a REF not in the
catalog; 2 usage error (no REF and no ``--all``, a bad ``--grid`` file, a
``--base`` that is not a loadable checkpoint, ``--device cuda`` without
CUDA); 130 interrupted (Ctrl-C), with every finished result recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sdhub.hub.render import JobResult, RenderPlan, Task


class _VocabChoice(click.Choice):
    """``click.Choice`` over a :mod:`sdhub.models.kinds` enum, looked up when click needs
    it (a copy of ``library``'s: importing that module here would load it for nothing)."""

    def __init__(self, enum_name: str) -> None:  # no super().__init__: choices are lazy
        self._enum_name = enum_name
        self.case_sensitive = False

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from sdhub.models import kinds

        return tuple(member.value for member in getattr(kinds, self._enum_name))


EXIT_INTERRUPTED = 130
_VERDICT_ORDER = ("ok", "no-effect", "incompatible", "nan", "black", "error")
_VERDICT_STYLES = {
    "ok": "green",
    "no-effect": "yellow",
    "incompatible": "yellow",
}


@click.command("render")
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option("--all", "all_", is_flag=True, help="Every catalogued asset that can be rendered.")
@click.option("--kind", type=_VocabChoice("Kind"), help="Only assets of this kind.")
@click.option(
    "--family",
    type=_VocabChoice("Base"),
    help="Only assets made for this base family (sd1, sd2, sdxl, …).",
)
@click.option(
    "--only-new",
    is_flag=True,
    help="Only assets never rendered (or that found no base), or changed since their render.",
)
@click.option(
    "--base",
    "base_ref",
    metavar="REF",
    help="Render every non-checkpoint asset on this checkpoint instead of choosing one.",
)
@click.option(
    "--grid",
    "grid_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A reference grid TOML file (default: the shipped grid).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cuda", "cpu"]),
    default="auto",
    show_default=True,
    help="auto: CUDA in fp16 when there is one, else CPU in fp32.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on any verdict other than ok.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one result per asset.")
def render(
    refs: tuple[str, ...],
    all_: bool,
    kind: str | None,
    family: str | None,
    only_new: bool,
    base_ref: str | None,
    grid_file: Path | None,
    device: str,
    strict: bool,
    as_json: bool,
) -> None:
    """Render assets against the reference prompt grid and record a verdict for each.

    REF: a path, an asset name or a hash. Each asset renders on a compatible
    checkpoint from the catalog (a checkpoint renders itself); each base
    loads once. Grids are saved under $SDHUB_HOME/renders/; verdicts (ok,
    no-effect, nan, black, incompatible, error) go into the catalog, where
    `sdhub show` and the browser read them.

    Exit status 1 when an asset renders error, nan or black, or an asset named
    as REF is incompatible or has no effect; 130 on Ctrl-C (finished results
    stay recorded).
    """
    from ..output import EXIT_USAGE, die

    if bool(refs) == all_:
        die("give REF… or --all (not both)" if refs else "nothing to render: give REF… or --all")
    from sdhub.catalog import AmbiguousRefError, CatalogError, open_catalog
    from sdhub.hub.render import RenderJobError, Selection, plan_renders, select_assets
    from sdhub.models.kinds import Base, Kind
    from sdhub.models.render import GridError, load_grid

    from sdhub.config import ConfigError, load_settings

    grid = None
    if grid_file is not None:
        try:
            grid = load_grid(grid_file)
        except GridError as exc:
            die(str(exc), EXIT_USAGE)
    try:
        settings = load_settings()
        catalog = open_catalog(settings.db_url)
    except (ConfigError, CatalogError) as exc:
        die(str(exc))
    selection = Selection(
        refs=refs,
        all_=all_,
        kind=Kind(kind) if kind else None,
        family=Base(family) if family else None,
        only_new=only_new,
    )
    with catalog:
        with catalog.session() as session:
            _refuse_malformed(session, refs)
            try:
                selected = select_assets(session, selection)
                plan = plan_renders(session, selected.chosen, base_ref=base_ref)
            except AmbiguousRefError as exc:
                _ambiguous(exc)
            except RenderJobError as exc:
                die(str(exc), EXIT_USAGE)
        _notes(selected.unresolved, selected.skipped, as_json=as_json)
        if not plan.tasks:
            _nothing(bool(selected.unresolved), bool(selected.skipped))
        results, interrupted = _run(
            catalog, plan, settings.renders_dir, grid=grid, device=device, as_json=as_json
        )
    if not as_json:
        _summary(results, plan)
    if interrupted:
        done = len(results)
        from ..output import warn

        warn(f"interrupted: {done} of {len(plan.tasks)} asset(s) done and recorded")
        raise SystemExit(EXIT_INTERRUPTED)
    failed = any(r.failed(strict=strict) for r in results) or bool(selected.unresolved)
    raise SystemExit(1 if failed else 0)


def _ambiguous(exc: Exception) -> None:
    from ..output import EXIT_USAGE, die, warn

    for path in getattr(exc, "candidates", []):
        warn(f"  candidate: {path}")
    die(str(exc), EXIT_USAGE)


def _refuse_malformed(session: Any, refs: tuple[str, ...]) -> None:
    """A REF that is no reference at all (``civitai:abc``, "") is a usage error, exit 2."""
    from sdhub.catalog import CatalogError, MalformedRefError, resolve_ref

    from ..output import die

    for ref in refs:
        try:
            resolve_ref(session, ref)
        except MalformedRefError as exc:
            die(str(exc))
        except CatalogError:
            pass  # not found or ambiguous: reported by the selection


def _notes(
    unresolved: list[tuple[str, str]], skipped: dict[str, int], *, as_json: bool = False
) -> None:
    """Each REF that named nothing: a line on stderr and, with --json, a result record of
    the usual shape (the REF as the asset's name, no kind or path; verdict ``error``) so
    that a script sees every REF it passed."""
    from ..output import emit_json, warn

    for ref, message in unresolved:
        warn(f"error: {message}")
        if as_json:
            emit_json(
                {
                    "asset": {"name": ref, "kind": None, "path": None},
                    "base": None,
                    "verdict": "error",
                    "grid": None,
                    "images": 0,
                    "seconds": 0.0,
                    "message": message,
                }
            )
    for reason, count in sorted(skipped.items()):
        warn(f"left out {count} asset(s): {reason}")


def _nothing(unresolved: bool, skipped: bool) -> None:
    from ..output import warn

    if not unresolved:
        warn("nothing to render" + ("" if skipped else ": the catalog has no such asset"))
    raise SystemExit(1 if unresolved else 0)


def _run(
    catalog: Any,
    plan: RenderPlan,
    renders_dir: Path,
    *,
    grid: Any,
    device: str,
    as_json: bool,
) -> tuple[list[JobResult], bool]:
    """Run the job with progress on stderr; returns (results, interrupted)."""
    import contextlib

    from sdhub.hub.render import RenderJob, RenderJobError

    from ..output import EXIT_USAGE, die, emit_json, stderr_console

    console = stderr_console()
    live = console.is_terminal
    results: list[JobResult] = []
    progress = _Progress(console, len(plan.tasks)) if live else None
    job = RenderJob(catalog, plan, renders_dir, grid=grid, device=device)
    try:
        with job, progress or contextlib.nullcontext():
            for item in job.run(
                on_start=progress.start if progress else None,
                on_image=progress.image if progress else None,
                on_base=progress.base if progress else None,
            ):
                results.append(item)
                if progress is not None:
                    progress.done(item)
                elif not as_json:
                    console.print(_status_line(item), highlight=False, soft_wrap=True)
                if as_json:
                    with contextlib.suppress(BrokenPipeError):
                        emit_json(item.to_json())
    except KeyboardInterrupt:
        return results, True
    except RenderJobError as exc:
        die(str(exc), EXIT_USAGE)
    return results, False


def _status_line(item: JobResult) -> str:
    from rich.markup import escape

    r = item.result
    style = _VERDICT_STYLES.get(r.verdict.value, "red")
    text = f"[{style}]{r.verdict.value:<12}[/] {escape(r.asset.name)} ({r.asset.kind.value})"
    if r.base is not None and r.base.path != r.asset.path:
        text += f" on {escape(r.base.name)}"
    if r.images:
        text += f" [dim]· {r.images} images · {r.seconds:.1f} s[/]"
    if r.message:
        text += f" [dim]· {escape(_clip(r.message))}[/]"
    return text


def _clip(text: str, limit: int = 240) -> str:
    """Long engine messages (every missing tensor…) stay whole in --json and the catalog."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Progress:
    """Two bars on stderr: assets overall, images of the current asset."""

    def __init__(self, console: Any, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.overall = self.progress.add_task("assets", total=total)
        self.current = self.progress.add_task("", total=None, visible=False)

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def base(self, name: str) -> None:
        from rich.markup import escape

        self.progress.reset(self.current, total=None, description=f"loading {escape(name)}")
        self.progress.update(self.current, visible=True)

    def start(self, task: Task, index: int, total: int) -> None:
        from rich.markup import escape

        asset = task.asset
        # reset: the bar's clock shows this asset's time, not the run's
        self.progress.reset(
            self.current, total=None, description=f"  {escape(asset.name)} ({asset.kind.value})"
        )
        self.progress.update(self.current, visible=True)

    def image(self, done: int, planned: int) -> None:
        self.progress.update(self.current, completed=done, total=planned)

    def done(self, item: JobResult) -> None:
        self.progress.console.print(_status_line(item), highlight=False, soft_wrap=True)
        self.progress.advance(self.overall)


def _leading_width(results: list[JobResult]) -> int:
    """How wide the columns before "grid / message" are, with their separators: what is
    left of the line goes to the grid name (the names are short, the old fixed guess of
    72 left a 12-column stub on an 80-column terminal)."""
    widths = [len(h) for h in ("verdict", "asset", "kind", "base", "images", "s")]
    widths[1] = max(widths[1], 10)  # the asset column's min_width
    for item in results:
        r = item.result
        self_base = r.base is None or r.base.path == r.asset.path
        cells = (
            r.verdict.value,
            r.asset.name,
            r.asset.kind.value,
            "" if self_base else r.base.name,  # type: ignore[union-attr]
            str(r.images) if r.images else "",
            f"{r.seconds:.1f}" if r.images else "",
        )
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    return sum(widths) + len(widths)  # one space between columns


def _summary(results: list[JobResult], plan: RenderPlan) -> None:
    """The report on stdout: one row per asset, counts, where the grids are."""
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from ..output import stdout_console

    if not results:
        return
    console = stdout_console()
    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("asset", overflow="fold", min_width=10)
    table.add_column("kind", no_wrap=True)
    table.add_column("base", overflow="fold", min_width=6)
    table.add_column("images", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    # The rest of the line, cut short: the whole message is in --json and `sdhub show`.
    rest = max(24, console.width - _leading_width(results))
    table.add_column("grid / message", overflow="ellipsis", no_wrap=True, max_width=rest)
    folders = set()
    for item in results:
        r = item.result
        style = _VERDICT_STYLES.get(r.verdict.value, "red")
        detail = r.grid_path.name if r.grid_path else ""
        if r.grid_path:
            folders.add(str(r.grid_path.parent))
        if r.message:
            detail = f"{detail} · {_clip(r.message)}" if detail else _clip(r.message)
        self_base = r.base is None or r.base.path == r.asset.path
        table.add_row(
            f"[{style}]{r.verdict.value}[/]",
            escape(r.asset.name),
            r.asset.kind.value,
            "" if self_base else escape(r.base.name),  # type: ignore[union-attr]
            str(r.images) if r.images else "",
            f"{r.seconds:.1f}" if r.images else "",
            escape(detail),
        )
    console.print(table)
    counts = Counter(r.verdict.value for r in results)
    line = ", ".join(f"{counts[v]} {v}" for v in _VERDICT_ORDER if counts[v])
    line += f" · {len(results)} of {len(plan.tasks)} asset(s)"
    if folders:
        line += f" · grids in {', '.join(sorted(folders))}"
    console.print(escape(line), style="dim", soft_wrap=True)
