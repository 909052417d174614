"""``sdhub ls``, ``sdhub show``, ``sdhub prompt``: what the catalog knows."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sdhub.catalog import Asset, Catalog


@contextmanager
def _catalog() -> Iterator[Catalog]:
    from sdhub.catalog import CatalogError, open_catalog

    from sdhub.config import ConfigError, load_settings

    from ..output import die

    try:
        catalog = open_catalog(load_settings().db_url)
    except (ConfigError, CatalogError) as exc:
        die(str(exc))
    with catalog:
        yield catalog


def _ref_failed(exc: Exception) -> NoReturn:
    """One line naming the REF: exit 2 when it is no reference or names several assets
    (the candidates follow, one per line), 1 when it names nothing catalogued."""
    from sdhub.catalog import AmbiguousRefError, MalformedRefError

    from ..output import EXIT_ITEM_FAILED, EXIT_USAGE, warn

    warn(f"error: {exc}")
    if isinstance(exc, AmbiguousRefError):
        for path in exc.candidates:
            warn(f"  candidate: {path}")
        raise SystemExit(EXIT_USAGE)
    raise SystemExit(EXIT_USAGE if isinstance(exc, MalformedRefError) else EXIT_ITEM_FAILED)


def _find(catalog: Catalog, ref: str, *, previews: bool = False) -> Asset:
    from sdhub.catalog import AmbiguousRefError, RefNotFoundError, find_asset

    with catalog.session() as session:
        try:
            return find_asset(session, ref, previews=previews)
        except (RefNotFoundError, AmbiguousRefError) as exc:
            _ref_failed(exc)


class _VocabChoice(click.Choice):
    """``click.Choice`` over the values of a :mod:`sdhub.models.kinds` enum, looked up
    when click first needs them: loading this module imports only click. Any case is
    accepted (``--kind LoRA``, ``--base SDXL``) and passed on as the canonical value."""

    def __init__(self, enum_name: str) -> None:  # no super().__init__: choices are lazy
        self._enum_name = enum_name
        self.case_sensitive = False

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from sdhub.models import kinds

        return tuple(member.value for member in getattr(kinds, self._enum_name))


# --------------------------------------------------------------------------------------
# ls


@click.command("ls")
@click.option("--kind", type=_VocabChoice("Kind"), help="Only this kind.")
@click.option("--base", type=_VocabChoice("Base"), help="Only this base family.")
@click.option(
    "--query", "-q", help="Match name, path, trigger words, Civitai names or a hash prefix."
)
@click.option("--missing", is_flag=True, help="Include files gone from disk.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one asset per line.")
def ls(kind: str | None, base: str | None, query: str | None, missing: bool, as_json: bool) -> None:
    """List catalogued assets: name, kind, base, size, weight, trigger words."""
    from sdhub.catalog import list_assets

    from ..output import emit_json

    with _catalog() as catalog, catalog.session() as session:
        assets = list_assets(session, kind=kind, base=base, query=query, include_missing=missing)
    try:
        if as_json:
            for asset in assets:
                emit_json(asset.to_json())
        else:
            _ls_table(assets)
    except BrokenPipeError:
        pass


def _ls_table(assets: list[Asset]) -> None:
    from rich.table import Table
    from sdhub.catalog import format_weight
    from sdhub.models.kinds import Kind

    from ..output import stdout_console

    console = stdout_console()
    if not assets:
        console.print("No assets match. (Run `sdhub scan` to index a library.)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column, justify in (
        ("name", "left"),
        ("kind", "left"),
        ("base", "left"),
        ("size", "right"),
        ("weight", "right"),
        ("trigger words", "left"),
    ):
        # Only the trigger words wrap: a name, kind or size split over two
        # lines is hard to read and breaks `sdhub ls | grep`.
        wraps = column == "trigger words"
        table.add_column(
            column,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=not wraps,
            overflow="fold" if wraps else "ellipsis",
            min_width=12 if wraps else None,
        )
    for a in assets:
        kind = a.kind.value
        if a.kind is Kind.OTHER and a.component is not None:
            kind = f"other/{a.component.value}"
        if a.missing:
            kind += " (missing)"
        weight = "" if a.weight is None else format_weight(a.weight.default)
        table.add_row(a.name, kind, a.base.value, _size(a.size), weight, ", ".join(a.trigger_words))
    console.print(table)
    console.print(f"{len(assets)} asset(s)", style="dim")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


# --------------------------------------------------------------------------------------
# show


@click.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The asset as one JSON object.")
def show(ref: str, as_json: bool) -> None:
    """One asset: trigger words, weight, hashes, source, path, verdicts.

    REF is a path, a name (file stem), or a hash: AutoV2 (10 hex), AutoV3
    (12 hex), SHA256 (64 hex), any case.
    """
    from ..output import emit_json

    with _catalog() as catalog:
        asset = _find(catalog, ref, previews=True)
    if as_json:
        emit_json(asset.to_json())
    else:
        _show_human(asset)


def _show_human(a: Asset) -> None:
    from sdhub.catalog import format_weight

    from ..output import stdout_console

    console = stdout_console()
    kind = a.kind.value + (f" ({a.component.value})" if a.component else "")
    rows: list[tuple[str, Any]] = [
        ("name", a.name),
        ("path", a.path + ("  (missing)" if a.missing else "")),
        ("kind", kind + ("  (negative embedding)" if a.negative else "")),
        ("base", a.base.value),
        ("format", a.format.value),
        ("size", f"{a.size:,} bytes"),
    ]
    if a.trigger_words:
        source = f"  [{a.words_source.value}]" if a.words_source else ""
        rows.append(("trigger words", ", ".join(a.trigger_words) + source))
    if a.weight is not None:
        w = a.weight
        span = ""
        if w.min is not None or w.max is not None:
            low = format_weight(w.min) if w.min is not None else "?"
            high = format_weight(w.max) if w.max is not None else "?"
            span = f" ({low}–{high})"
        rows.append(("weight", f"{format_weight(w.default)}{span}  [{w.source.value}]"))
    if a.hashes:
        h = a.hashes
        rows += [
            ("sha256", h.sha256),
            ("autov2", h.autov2),
            ("autov3", h.autov3 or "—"),
            ("autov1", h.autov1),
            ("crc32", h.crc32),
            ("blake3", h.blake3),
        ]
    verdict = a.safety.verdict.value
    if a.safety.globals and a.safety.verdict.value != "safe":
        verdict += ": " + ", ".join(a.safety.globals)
    rows.append(("safety", verdict))
    if a.source:
        s = a.source
        label = " / ".join(x for x in (s.model_name, s.version_name) if x) or s.version_id or ""
        rows.append(("source", f"{s.site.value}: {label}"))
        if s.url:
            rows.append(("url", s.url))
    if a.render:
        rows.append(("render", f"{a.render.verdict}  {a.render.grid or ''}".rstrip()))
    for key, value in (
        ("description", a.description),
        ("negative text", a.negative_text),
        ("notes", a.notes),
    ):
        if value:
            rows.append((key, value))
    for key, value in a.details.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, dict) or len(str(value)) > 80:
            continue  # nested hints: `sdhub show --json` has them whole
        rows.append((f"  {key}", value))
    for warning in a.warnings:
        rows.append(("warning", warning))
    if a.error:
        rows.append(("error", a.error))
    if a.previews:
        rows.append(
            ("previews", "\n".join(p.get("path") or p.get("url") or "" for p in a.previews[:5]))
        )
    from rich.table import Table
    from rich.text import Text

    # A grid, so that a long value (a URL, a path) wraps under itself, not under the labels.
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, Text(str(value)))
    console.print(grid)


# --------------------------------------------------------------------------------------
# prompt


def _finite(value: float | None) -> float | None:
    """``nan`` and ``inf`` parse as floats, but no WebUI reads ``<lora:x:nan>`` (and JSON
    has no NaN): a usage error."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.command("prompt", short_help="The prompt snippet for an asset.")
@click.argument("ref")
@click.option(
    "--weight",
    "-w",
    type=float,
    callback=lambda _ctx, _param, value: _finite(value),
    help="Weight to use (default: the recommended one).",
)
@click.option("--json", "as_json", is_flag=True, help="The snippet as one JSON object.")
def prompt(ref: str, weight: float | None, as_json: bool) -> None:
    """The prompt snippet for an asset, e.g. ``<lora:mystyle:0.7>, mystyle``.

    Embeddings print their name (``negative: NAME`` for negative
    embeddings); checkpoints and VAEs print the setting to choose.
    """
    from sdhub.catalog import name_clashes, prompt_snippet

    from ..output import emit_json, warn

    with _catalog() as catalog:
        asset = _find(catalog, ref)
        with catalog.session() as session:
            clashes = name_clashes(session, asset)
    snippet = prompt_snippet(asset, weight=weight, clashes=clashes)
    for message in snippet.warnings:
        warn(message)
    if as_json:
        emit_json({**snippet.to_json(), "path": asset.path})
    else:
        click.echo(snippet.text())
