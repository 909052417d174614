"""How values look on screen: sizes, weights, sources, verdicts. Presentation only."""

from __future__ import annotations

from sdhub.catalog import WeightInfo
from sdhub.catalog.browse import BrowseRow
from sdhub.catalog.enums import WeightSource
from sdhub.models.kinds import Base, Kind, Verdict

#: Short labels that fit a narrow column.
KIND_LABELS: dict[Kind, str] = {
    Kind.CHECKPOINT: "checkpoint",
    Kind.LORA: "lora",
    Kind.EMBEDDING: "embedding",
    Kind.HYPERNETWORK: "hypernet",
    Kind.VAE: "vae",
    Kind.OTHER: "other",
    Kind.INVALID: "invalid",
}

#: Render verdicts and the style class that colours them.
VERDICT_STYLES = {
    "ok": "green",
    "no-effect": "yellow",
    "nan": "red",
    "black": "red",
    "incompatible": "yellow",
    "error": "red",
}


def human_size(size: int | None) -> str:
    """``1.9 GB``, ``151 MB``, ``24 KB``: decimal units, as file managers show them."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def weight_detail(weight: WeightInfo | None) -> str:
    """``0.7 (0.5–0.9) from civitai``."""
    if weight is None:
        return "not applied at a weight"
    text = _num(weight.default)
    if weight.min is not None or weight.max is not None:
        low = _num(weight.min) if weight.min is not None else "?"
        high = _num(weight.max) if weight.max is not None else "?"
        text += f"  (range {low}–{high})"
    if weight.source is WeightSource.DEFAULT:
        return text + "  · default (nobody recommends one)"
    return text + f"  · from {weight.source.value}"


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def base_text(base: Base) -> str:
    return "" if base is Base.UNKNOWN else base.value


def weight_number(weight: float | None) -> str:
    return "" if weight is None else _num(weight)


def row_mark(row: BrowseRow) -> tuple[str, str]:
    """A one-cell flag for a table row and the style class it is drawn in."""
    if row.safety is Verdict.DANGEROUS or row.invalid:
        return "✗", "danger"
    if row.safety is Verdict.SUSPICIOUS or row.warned:
        return "!", "warning"
    if row.duplicate:
        return "=", "muted"
    if row.missing:
        return "?", "muted"
    return " ", ""
