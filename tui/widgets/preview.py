"""The preview image: a real picture where the terminal can draw one, a clear line elsewhere.

Pictures need the Kitty graphics protocol or Sixel, which ``textual-image``
detects by asking the terminal before the app starts
(:func:`detect_image_support`, called by ``sdhub`` itself, never in tests).
Everywhere else (tmux, plain xterm, a test) the pane says where the preview
is and that ``o`` opens its folder.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static


class ImageSupport(StrEnum):
    NONE = "none"
    SIXEL = "sixel"
    KITTY = "kitty"


def detect_image_support() -> ImageSupport:
    """Ask the terminal (must run before Textual takes it over)."""
    try:
        from textual_image.renderable import Image, SixelImage, TGPImage
    except Exception:  # no pillow, no terminal: the text line it is
        return ImageSupport.NONE
    if Image is SixelImage:
        return ImageSupport.SIXEL
    if Image is TGPImage:
        return ImageSupport.KITTY
    return ImageSupport.NONE


class PreviewImage(Container):
    """Shows one image file, or says why it cannot."""

    def __init__(self, support: ImageSupport = ImageSupport.NONE, *, id: str | None = None):
        super().__init__(id=id)
        self.support = support
        self.path: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-text", markup=False)

    def show(self, path: Path | None, *, remote: str | None = None, size: str = "") -> None:
        """An image file on disk (None: no local preview; ``remote``: where one could be had)."""
        self.path = path
        text = self.query_one("#preview-text", Static)
        for old in self.query(".preview-picture"):
            old.remove()
        if path is None:
            self.display = True
            text.update(
                "no preview image" + (f" here; Civitai has one: {remote}" if remote else "")
            )
            return
        if self.support is not ImageSupport.NONE:
            try:
                picture = self._picture(path)
            except Exception as exc:  # a broken file, a missing pillow: say so, keep going
                text.update(f"preview {path.name}: cannot show it ({exc})")
                return
            text.update("")
            self.mount(picture)
            return
        text.update(
            f"preview: {path.name}{f'  ({size})' if size else ''}\n"
            "this terminal cannot draw images (needs Kitty graphics or Sixel); "
            "o opens its folder"
        )

    def _picture(self, path: Path) -> Static:
        from textual_image.widget import Image

        picture = Image(str(path), classes="preview-picture")
        return picture
