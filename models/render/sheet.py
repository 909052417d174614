"""The labelled grid PNG and its A1111-style ``parameters`` text.

A WebUI user drops the PNG on the PNG Info tab and gets the prompt and
settings of the first asset image back, as for any X/Y plot A1111 saves.
The full layout (every cell's prompt, seed and column) goes into a second
text chunk, ``sdhub``, as JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image, ImageFont


@dataclass(frozen=True, slots=True)
class Infotext:
    """One image's generation parameters in A1111's order."""

    positive: str
    negative: str
    steps: int
    sampler: str
    cfg: float
    seed: int
    width: int
    height: int
    model_hash: str | None
    model: str
    extra: Mapping[str, str]

    def render(self) -> str:
        fields = [
            ("Steps", str(self.steps)),
            ("Sampler", self.sampler),
            ("CFG scale", f"{self.cfg:g}"),
            ("Seed", str(self.seed)),
            ("Size", f"{self.width}x{self.height}"),
        ]
        if self.model_hash:
            fields.append(("Model hash", self.model_hash))
        fields.append(("Model", self.model))
        fields.extend(self.extra.items())
        fields.append(("Version", "sdhub"))
        lines = [self.positive]
        if self.negative:
            lines.append(f"Negative prompt: {self.negative}")
        lines.append(", ".join(f"{k}: {v}" for k, v in fields))
        return "\n".join(lines)


def quote(value: str) -> str:
    """A1111 quotes values holding commas or colons (``Lora hashes: "a: 1, b: 2"``)."""
    if any(c in value for c in ',:\n"'):
        return json.dumps(value, ensure_ascii=False)
    return value


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_size(font: Any, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(right - left), int(bottom - top)


def _fit(font: Any, text: str, width: int) -> str:
    if _text_size(font, text)[0] <= width:
        return text
    while text and _text_size(font, text + "…")[0] > width:
        text = text[:-1]
    return text + "…"


#: White pixels between cells.
GAP = 4
#: Cells narrower than this are scaled up (nearest neighbour) for legible labels.
MIN_CELL = 128


def draw_sheet(
    title: str,
    subtitle: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: Sequence[Sequence[np.ndarray]],
) -> Image.Image:
    """A grid image: title on top, column labels above, row labels on the left."""
    from PIL import Image, ImageDraw

    cell_h, cell_w = cells[0][0].shape[:2]
    # Tiny renders (tests, the demo model) are blown up so labels fit above them.
    zoom = max(1, -(-MIN_CELL // cell_w))
    cell_h, cell_w = cell_h * zoom, cell_w * zoom
    size = max(12, min(22, cell_w // 12))
    font, small = _font(size), _font(max(10, size - 4))
    pad = size // 2
    line = _text_size(font, "Ag")[1] + pad
    label_w = max([_text_size(small, t)[0] for t in row_labels] + [cell_w // 3, 60]) + 2 * pad
    label_w = min(label_w, max(cell_w, 160))
    header_h = 2 * line + pad
    col_h = line + pad
    step_w, step_h = cell_w + GAP, cell_h + GAP
    sheet_w = label_w + step_w * len(col_labels)
    sheet_h = header_h + col_h + step_h * len(row_labels)
    sheet = Image.new("RGB", (max(sheet_w, 200), sheet_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, pad), _fit(font, title, sheet.width - 2 * pad), fill="black", font=font)
    draw.text(
        (pad, pad + line), _fit(small, subtitle, sheet.width - 2 * pad), fill="#444", font=small
    )
    for c, label in enumerate(col_labels):
        text = _fit(small, label, cell_w - pad)
        tw = _text_size(small, text)[0]
        x = label_w + c * step_w + (cell_w - tw) // 2
        draw.text((x, header_h), text, fill="black", font=small)
    for r, label in enumerate(row_labels):
        y = header_h + col_h + r * step_h
        draw.text((pad, y + pad), _fit(small, label, label_w - 2 * pad), fill="black", font=small)
        for c, img in enumerate(cells[r]):
            tile = Image.fromarray(img)
            if zoom > 1:
                tile = tile.resize((cell_w, cell_h), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_w + c * step_w, y))
    return sheet


def save_png(image: Image.Image, path: Path, texts: Mapping[str, str]) -> Path:
    """Write the PNG with text chunks via ``<name>.tmp`` + ``os.replace`` (never half-written)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in texts.items():
        info.add_itxt(key, value) if not value.isascii() else info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        image.save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (NaN allowed) as uint8, NaN drawn black as the WebUI shows it."""
    import numpy as np

    clean = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(clean, 0.0, 1.0) * 255).round().astype(np.uint8)
