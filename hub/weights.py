"""The recommended weight of a LoRA (or hypernetwork), and where that number came from.

Civitai has a ``settings.strength/minStrength/maxStrength`` field internally
but does not publish it in REST v1 (SPEC-APIS.md A.7), so the value is
assembled from what is published, in this order, with its source recorded:

1. ``civitai`` — ``settings`` when an answer carries it;
2. ``description`` — what the creator wrote ("weight 0.6", "strength: 0.8",
   "0.5-0.8", "LoRA weight: 0.6 (UNet: 0.6, TEnc: 0.25)", ``<lora:x:0.7>``);
3. ``example-images`` — what the example images were made with: median
   (default) and range (min/max) of this asset's weight in their generation
   data;
4. ``default`` — 1.0 (A1111's default multiplier; Civitai's fallback).

Description parsing is anchored on the words people use next to the number
(weight, strength, multiplier), never on a bare number, so versions ("v0.8"),
base models ("SD 1.5"), CFG, steps, resolutions and denoising strengths do
not count.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from sdhub.models.kinds import Kind

if TYPE_CHECKING:
    from .civitai import CivitaiFile, CivitaiModel, CivitaiVersion

#: A weight outside this band is no LoRA multiplier (sliders reach ±5 at most).
MAX_ABS_WEIGHT = 5.0
DEFAULT_WEIGHT = 1.0


class WeightSource(StrEnum):
    CIVITAI = "civitai"
    DESCRIPTION = "description"
    EXAMPLE_IMAGES = "example-images"
    SIDECAR = "sidecar"
    USER = "user"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Weight:
    """A recommended weight: the default, an optional range, and its provenance."""

    default: float
    min: float | None = None
    max: float | None = None
    source: WeightSource = WeightSource.DEFAULT

    def to_json(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "source": self.source.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Weight:
        return cls(
            default=float(data["default"]),
            min=None if data.get("min") is None else float(data["min"]),
            max=None if data.get("max") is None else float(data["max"]),
            source=WeightSource(data.get("source", "default")),
        )


def _round(value: float) -> float:
    return round(value, 3)


def _valid(value: float) -> bool:
    return 0 < abs(value) <= MAX_ABS_WEIGHT


def _from_range(lo: float, hi: float, source: WeightSource) -> Weight:
    lo, hi = min(lo, hi), max(lo, hi)
    # For a slider (-3 … 3) the midpoint is 0 = no effect: take the top instead.
    default = hi if lo < 0 < hi else (lo + hi) / 2
    return Weight(_round(default), _round(lo), _round(hi), source)


# --- 1. the service's own field -------------------------------------------------------------------


def weight_from_settings(settings: Mapping[str, Any] | None) -> Weight | None:
    """``{"strength", "minStrength", "maxStrength"}`` (Civitai's recommendedSettingsSchema)."""
    if not settings:
        return None

    def num(key: str) -> float | None:
        value = settings.get(key)
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    strength, lo, hi = num("strength"), num("minStrength"), num("maxStrength")
    if strength is not None and _valid(strength):
        return Weight(_round(strength), lo, hi, WeightSource.CIVITAI)
    if lo is not None and hi is not None and _valid(lo) and _valid(hi):
        return _from_range(lo, hi, WeightSource.CIVITAI)
    return None


# --- 2. the description ------------------------------------------------------------------


class _Text(HTMLParser):
    """HTML to text; block elements become line breaks so sentences stay apart."""

    _BLOCKS = frozenset(
        {
            "p",
            "br",
            "div",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "td",
            "table",
            "blockquote",
            "pre",
            "hr",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(text: str) -> str:
    """Plain text of a description (tags stripped, entities decoded, blocks on their own lines)."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    return html.unescape("".join(parser.parts))


_NUM = r"[-−]?(?:\d+(?:[.,]\d+)?|[.,]\d+)%?"
_RANGE_SEP = r"\s*(?:-|–|—|~|〜|to|and|/)\s*"
#: A value or range: "0.7", "0.5-0.8", "0.5 ~ 0.8", "0.5 to 0.8", "between 0.5 and 0.8".
_VALUE = rf"(?:between\s+)?(?P<a>{_NUM})(?:{_RANGE_SEP}(?P<b>{_NUM}))?"
_KEYWORD = (
    r"(?:lora\s+|lyco(?:ris)?\s+|model\s+|unet\s+|network\s+)?"
    r"(?:weights?|strengths?|multiplier|str)"
)
#: Words allowed between a keyword and its number: "weight of 0.7", "strength: around 0.8".
_FILLER = (
    r"(?:\s*(?:[:=：]|is|are|of|at|around|about|approx\.?|approximately|~|≈|"
    r"between|from|range|recommended|recommend|should\s+be|works\s+best\s+at|"
    r"set\s+to|use|somewhere|in|the|\(|\[)\s*)*"
)
_KEYWORD_FIRST = re.compile(rf"(?P<kw>{_KEYWORD})\b{_FILLER}\s*{_VALUE}", re.I)
_VALUE_FIRST = re.compile(
    rf"(?<![\w.])(?:at\s+|@\s*)?{_VALUE}\s*(?:(?:lora|model|unet)\s+)?(?:weights?|strengths?)\b",
    re.I,
)
#: A keyword right after these is about something else ("denoising strength 0.4").
_OTHER_CONTEXT = re.compile(
    r"\b(denois\w*|noise|hires?\.?\s*(?:fix)?|upscal\w*|cfg|guidance|clip|te|tenc|text\s*encoder|"
    r"controlnet|control|ip[- ]?adapter|adetailer|face|detail(?:er)?|refiner|style\s+fidelity|"
    r"decay|prompt|token|ema|dropout|lr|learning\s+rate|cn|inpaint\w*)\W*$",
    re.I,
)
#: "weight: 0.8 (0.6 - 1.0 also works)": a range in brackets right after a stated value.
_TRAILING_RANGE = re.compile(
    rf"\s*[(\[]\s*(?:range\s*:?\s*)?(?P<a>{_NUM}){_RANGE_SEP}(?P<b>{_NUM})", re.I
)
_PROMPT_TAG = re.compile(r"<(?:lora|lyco|locon):([^:<>]+):\s*([-\d.]+)[^>]*>", re.I)


def _number(text: str | None) -> float | None:
    if not text:
        return None
    value = text.replace("−", "-").strip()
    percent = value.endswith("%")
    value = value.rstrip("%").replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return None
    return number / 100 if percent else number


@dataclass(frozen=True, slots=True)
class _Candidate:
    lo: float
    hi: float | None
    recommended: bool
    position: int


def _context_ok(text: str, start: int) -> bool:
    """The keyword at ``start`` is not about denoising, CFG, the text encoder, …"""
    before = text[max(0, start - 24) : start]
    return not _OTHER_CONTEXT.search(before)


def _version_like(text: str, start: int) -> bool:
    """ "v0.8", "SD 1.5", "SDXL 1.0", "Pony V6": a number that names a version."""
    before = text[max(0, start - 8) : start].lower()
    return bool(
        re.search(r"\b(v|ver\.?|version|sd|sdxl|xl|pony|flux|illustrious|epoch)\s*$", before)
    )


def _candidates(text: str) -> list[_Candidate]:
    out: list[_Candidate] = []
    for pattern, keyword_first in ((_KEYWORD_FIRST, True), (_VALUE_FIRST, False)):
        for match in pattern.finditer(text):
            start = match.start("kw") if keyword_first else match.start()
            if not _context_ok(text, start) or _version_like(text, match.start("a")):
                continue
            tail = text[match.end() : match.end() + 6]
            if re.match(r"\s*(?:x\s*\d|px|steps?\b|it/s|gb|mb|k\b)", tail, re.I):
                continue  # a resolution, a step count, a size
            a = _number(match.group("a"))
            b = _number(match.group("b"))
            if a is None or not _valid(a):
                continue
            if b is not None and (not _valid(b) or b == a):
                b = None
            if b is None and (trailing := _TRAILING_RANGE.match(text, match.end())):
                lo, hi = _number(trailing.group("a")), _number(trailing.group("b"))
                if lo is not None and hi is not None and _valid(lo) and _valid(hi):
                    out.append(_Candidate(lo, hi, False, match.start() + 1))
            sentence_start = max(text.rfind("\n", 0, start), text.rfind(".", 0, max(start - 1, 0)))
            window = text[max(sentence_start, start - 60) : match.end()].lower()
            out.append(
                _Candidate(a, b, "recommend" in window or "suggest" in window, match.start())
            )
    return sorted(out, key=lambda c: c.position)


def weight_from_description(text: str | None, *, names: Iterable[str] = ()) -> Weight | None:
    """A weight stated in a description (HTML or plain text), or None.

    Statements near "recommended"/"suggested" win; a single value stated next
    to a range takes the range as min/max. ``<lora:NAME:W>`` examples count
    when no statement does (only those naming this asset when ``names`` is given).
    """
    if not text:
        return None
    plain = html_to_text(text) if "<" in text and ">" in text else html.unescape(text)
    plain = plain.replace("\u00a0", " ")
    prompt_free = _PROMPT_TAG.sub(" ", plain)
    found = _candidates(prompt_free)
    if found:
        best = next((c for c in found if c.recommended), found[0])
        if best.hi is not None:
            return _from_range(best.lo, best.hi, WeightSource.DESCRIPTION)
        ranged = next(
            (
                c
                for c in found
                if c.hi is not None and min(c.lo, c.hi) <= best.lo <= max(c.lo, c.hi)
            ),
            None,
        )
        if ranged is not None and ranged.hi is not None:
            return Weight(
                _round(best.lo),
                _round(min(ranged.lo, ranged.hi)),
                _round(max(ranged.lo, ranged.hi)),
                WeightSource.DESCRIPTION,
            )
        return Weight(_round(best.lo), None, None, WeightSource.DESCRIPTION)
    wanted = {_norm(n) for n in names if _norm(n)}
    values = [
        v
        for name, raw in _PROMPT_TAG.findall(html.unescape(text))
        if (not wanted or _norm(name) in wanted) and (v := _number(raw)) is not None and _valid(v)
    ]
    return _summarise(values, WeightSource.DESCRIPTION)


# --- 3. the example images -------------------------------------------------------------------


def _norm(name: str | None) -> str:
    """A name as prompts spell it, compared loosely: stem, lower case, letters and digits."""
    if not name:
        return ""
    stem = PurePath(str(name).replace("\\", "/")).name
    for suffix in (".safetensors", ".ckpt", ".pt", ".pth", ".bin"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return re.sub(r"[^0-9a-z]", "", stem.lower())


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _number(value)
    return None


def _summarise(values: list[float], source: WeightSource) -> Weight | None:
    if not values:
        return None
    median = statistics.median(values)
    lo, hi = min(values), max(values)
    if lo == hi:
        return Weight(_round(median), None, None, source)
    return Weight(_round(median), _round(lo), _round(hi), source)


def _image_weight(
    meta: Mapping[str, Any], names: set[str], hashes: set[str], version_id: int | None
) -> float | None:
    """This asset's weight in one image's generation data (first source that names it)."""
    for res in meta.get("civitaiResources") or ():
        if not isinstance(res, Mapping) or version_id is None:
            continue
        if res.get("modelVersionId") == version_id and (w := _float(res.get("weight"))) is not None:
            return w
    for res in meta.get("additionalResources") or ():
        if not isinstance(res, Mapping):
            continue
        name = str(res.get("name") or "")
        air = re.search(r"civitai:\d+@(\d+)", name)
        matches = (air and version_id is not None and int(air.group(1)) == version_id) or (
            _norm(name) in names
        )
        if matches and (w := _float(res.get("strength", res.get("weight")))) is not None:
            return w
    for res in meta.get("resources") or ():
        if not isinstance(res, Mapping):
            continue
        rhash = str(res.get("hash") or "").upper()
        if (rhash and rhash in hashes) or _norm(res.get("name")) in names:
            w = _float(res.get("weight"))
            if w is not None:
                return w
    prompt = meta.get("prompt")
    if isinstance(prompt, str):
        for name, raw in _PROMPT_TAG.findall(prompt):
            if _norm(name) in names and (w := _number(raw)) is not None:
                return w
    for key, value in meta.items():
        match = re.fullmatch(r"AddNet Model (\d+)", str(key))
        if not match or not isinstance(value, str):
            continue
        model = value.split("(", 1)[0].strip()
        inner = re.search(r"\(([0-9a-fA-F]+)\)", value)
        if _norm(model) in names or (inner and inner.group(1).upper() in hashes):
            w = _float(meta.get(f"AddNet Weight A {match.group(1)}"))
            if w is not None:
                return w
    return None


def weight_from_images(
    metas: Iterable[Mapping[str, Any] | None],
    *,
    names: Iterable[str] = (),
    hashes: Iterable[str] = (),
    version_id: int | None = None,
) -> Weight | None:
    """Median and range of this asset's weight over example images, or None.

    The asset is recognised by its Civitai version id (``civitaiResources``,
    AIRs in ``additionalResources``), its hashes (AutoV2/AutoV3 in
    ``resources``, ``AddNet Model``), or its names (file stem, model name,
    trigger words) in ``<lora:NAME:W>`` tags and resource names.
    """
    wanted_names = {n for n in (_norm(x) for x in names) if n}
    wanted_hashes = {h.upper() for h in hashes if h}
    values = []
    for meta in metas:
        if not isinstance(meta, Mapping):
            continue
        w = _image_weight(meta, wanted_names, wanted_hashes, version_id)
        if w is not None and _valid(w):
            values.append(w)
    return _summarise(values, WeightSource.EXAMPLE_IMAGES)


# --- 4. the default and the whole chain ------------------------------------------------------


def default_weight(kind: Kind) -> Weight | None:
    """1.0 for LoRAs and hypernetworks; None where a weight means nothing (embeddings, …)."""
    if kind in (Kind.LORA, Kind.HYPERNETWORK):
        return Weight(DEFAULT_WEIGHT, None, None, WeightSource.DEFAULT)
    return None


def recommended_weight(
    kind: Kind,
    *,
    settings: Mapping[str, Any] | None = None,
    descriptions: Iterable[str | None] = (),
    image_metas: Iterable[Mapping[str, Any] | None] = (),
    names: Iterable[str] = (),
    hashes: Iterable[str] = (),
    version_id: int | None = None,
) -> Weight | None:
    """The first answer of the chain: service field, description, example images, default.

    ``descriptions`` are tried in order (the version's before the model's:
    the more specific text wins). Kinds without a weight get None.
    """
    if default_weight(kind) is None:
        return None
    names = list(names)
    found = weight_from_settings(settings)
    for text in descriptions:
        if found is None:
            found = weight_from_description(text, names=names)
    if found is None:
        found = weight_from_images(image_metas, names=names, hashes=hashes, version_id=version_id)
    return found or default_weight(kind)


def civitai_weight(
    model: CivitaiModel | None, version: CivitaiVersion, file: CivitaiFile | None = None
) -> Weight | None:
    """The recommended weight of a Civitai version's file, from everything Civitai published."""
    names: list[str] = []
    hashes: list[str] = []
    for f in [file] if file is not None else list(version.files):
        names.append(f.name)
        hashes += [h for k, h in f.hashes.items() if k in ("autov2", "autov3", "sha256")]
    if model is not None:
        names.append(model.name)
    elif version.model_name:
        names.append(version.model_name)
    names += list(version.trained_words)
    kind = model.kind if model is not None else version.kind
    return recommended_weight(
        kind,
        settings=version.settings,
        descriptions=(version.description, model.description if model else None),
        image_metas=[image.meta for image in version.images],
        names=names,
        hashes=hashes,
        version_id=version.id,
    )
