"""The detail pane: what the catalog knows about the selected asset, as text a person reads."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from sdhub.catalog.browse import AssetDetail, Note, NoteLevel
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..format import KIND_LABELS, human_size, weight_detail
from .preview import ImageSupport, PreviewImage

_NOTE_STYLES = {NoteLevel.DANGER: "bold red", NoteLevel.WARNING: "yellow", NoteLevel.INFO: "cyan"}
_NOTE_MARKS = {NoteLevel.DANGER: "✗", NoteLevel.WARNING: "!", NoteLevel.INFO: "·"}


class DetailPane(VerticalScroll):
    """Title, warnings, facts, preview and description of one asset."""

    def __init__(
        self,
        *,
        images: ImageSupport = ImageSupport.NONE,
        full: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.images = images
        #: The full-screen detail shows every hash; the side pane the short ones.
        self.full = full
        self.detail: AssetDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title", markup=False)
        yield Static("", id="detail-notes", markup=False)
        yield Static("", id="detail-facts", markup=False)
        yield PreviewImage(self.images, id="detail-preview")
        yield Static("", id="detail-description", markup=False)

    def clear(self, message: str = "Nothing selected.") -> None:
        self.detail = None
        self.query_one("#detail-title", Static).update(Text(message, style="dim"))
        for name in ("#detail-notes", "#detail-facts", "#detail-description"):
            self.query_one(name, Static).update("")
        self.query_one(PreviewImage).display = False

    def show(self, detail: AssetDetail, extra_notes: list[Note] | None = None) -> None:
        self.detail = detail
        asset = detail.asset
        title = Text()
        title.append(asset.name, style="bold")
        title.append(f"  {KIND_LABELS.get(asset.kind, asset.kind.value)}", style="bold cyan")
        if asset.component is not None and asset.component.value != "unknown":
            title.append(f" · {asset.component.value}", style="cyan")
        if asset.base.value != "unknown":
            title.append(f" · {asset.base.label}", style="cyan")
        if asset.negative:
            title.append(" · negative", style="magenta")
        if asset.source and (asset.source.model_name or asset.source.version_name):
            title.append("\n")
            title.append(
                " · ".join(x for x in (asset.source.model_name, asset.source.version_name) if x),
                style="italic",
            )
        self.query_one("#detail-title", Static).update(title)

        notes = [*(extra_notes or []), *detail.notes]
        notes_text = Text()
        for note in notes:
            if notes_text:
                notes_text.append("\n")
            notes_text.append(
                f"{_NOTE_MARKS[note.level]} {note.text}", style=_NOTE_STYLES[note.level]
            )
        notes_widget = self.query_one("#detail-notes", Static)
        notes_widget.update(notes_text)
        notes_widget.display = bool(notes)

        self.query_one("#detail-facts", Static).update(self._facts(detail))

        preview = self.query_one(PreviewImage)
        preview.display = True
        from pathlib import Path

        preview.show(
            Path(detail.preview_path) if detail.preview_path else None,
            remote=detail.preview_url,
        )

        body = Text()
        if asset.description:
            body.append("Description\n", style="bold")
            body.append(asset.description.strip())
        if detail.remote_text and detail.remote_text != asset.description:
            site = "Hugging Face" if asset.source and asset.source.site.value == "hf" else "Civitai"
            body.append("\n\n" if body else "", style="bold")
            body.append(f"On {site}\n", style="bold")
            body.append(detail.remote_text.strip())
        if asset.notes:
            body.append("\n\nNotes\n" if body else "Notes\n", style="bold")
            body.append(asset.notes.strip())
        self.query_one("#detail-description", Static).update(body)
        self.scroll_home(animate=False)

    def _facts(self, detail: AssetDetail) -> Table:
        asset = detail.asset
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")

        words = ", ".join(asset.trigger_words)
        if asset.trigger_words:
            source = f"  ({asset.words_source.value})" if asset.words_source else ""
            grid.add_row("Trigger", Text(words, style="bold") + Text(source, style="dim"))
        elif asset.kind.value in ("lora", "embedding", "hypernetwork"):
            grid.add_row("Trigger", Text("none known (e enriches from Civitai)", style="dim"))
        if asset.weight is not None:
            grid.add_row("Weight", weight_detail(asset.weight))
        if asset.negative_text:
            grid.add_row("Negative", asset.negative_text)
        if asset.source is not None:
            site = {"civitai": "Civitai", "hf": "Hugging Face"}.get(
                asset.source.site.value, asset.source.site.value
            )
            link = asset.source.url or ""
            grid.add_row("Source", Text(site + (f"  {link}" if link else "")))
            if asset.source.base_model:
                grid.add_row("", Text(f"published for {asset.source.base_model}", style="dim"))
        else:
            grid.add_row("Source", Text("not linked to Civitai or Hugging Face", style="dim"))
        if asset.render is not None:
            render = asset.render
            line = Text(
                render.verdict, style="bold green" if render.verdict == "ok" else "bold red"
            )
            if render.base_name:
                line.append(f"  with {render.base_name}", style="dim")
            if render.grid:
                line.append(f"\n{render.grid}", style="dim")
            if render.message:
                line.append(f"\n{render.message}", style="dim")
            grid.add_row("Render", line)
        grid.add_row("Path", detail.relative_path or asset.path)
        details = f"{human_size(asset.size)} · {asset.format.value}"
        if asset.component:
            details += f" · {asset.component.value}"
        rank = asset.details.get("rank")
        if rank:
            details += f" · rank {rank}"
        grid.add_row("File", details)
        grid.add_row("Safety", _safety(asset.safety.verdict.value))
        if asset.hashes is not None:
            h = asset.hashes
            if self.full:
                grid.add_row("SHA256", h.sha256)
                grid.add_row("AutoV2", h.autov2)
                if h.autov3:
                    grid.add_row("AutoV3", h.autov3)
                grid.add_row("AutoV1", h.autov1 or "—")
                grid.add_row("CRC32", h.crc32 or "—")
                grid.add_row("BLAKE3", h.blake3 or "—")
            else:
                grid.add_row("AutoV2", h.autov2 + (f"   AutoV3 {h.autov3}" if h.autov3 else ""))
                grid.add_row("SHA256", h.sha256)
        else:
            grid.add_row("Hashes", Text("not hashed yet", style="dim"))
        if detail.clashes:
            grid.add_row("Same name", Group(*(Text(p, style="dim") for p in detail.clashes[:3])))
        return grid


def _safety(verdict: str) -> Text:
    style = {"safe": "green", "dangerous": "bold red", "suspicious": "yellow"}.get(verdict, "dim")
    return Text(verdict, style=style)
