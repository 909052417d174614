"""The recommended weight of a LoRA (or hypernetwork), and where that number came from.

Civitai has a ``settings.strength/minStrength/maxStrength`` field internally
but does not publish it in REST v1 (SPEC-APIS.md A.7), so the value is
assembled from what is published, with its source recorded:

1. ``civitai`` — ``settings`` when an answer carries it;
2. ``description`` — what the creator wrote ("weight 0.6", "strength: 0.8",
   "0.5-0.8", "LoRA weight: 0.6 (UNet: 0.6, TEnc: 0.25)", ``<lora:x:0.7>``);
3. ``example-images`` — what the example images were made with: median
   (default) and range (min/max) of this asset's weight in their generation
   data;
4. ``default`` — 1.0 (A1111's default multiplier; Civitai's fallback).

This is the one implementation: the catalog stores each source's answer
separately (:func:`sdhub.catalog.record_civitai_version`, also when
importing ``.civitai.info`` sidecars offline) and lets the most trusted one
win; the hub asks :func:`recommended_weight` for the chain's single answer.
Pure functions over JSON: no network, no database.

Description parsing is anchored on the words people use next to the number
(weight, strength, multiplier), never on a bare number, so versions ("v0.8"),
base models ("SD 1.5"), CFG, steps, resolutions, file sizes ("2GB") and
denoising strengths do not count.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sdhub.models.kinds import Kind

from .enums import WeightSource
from .knowledge import DEFAULT_WEIGHT, WeightInfo

#: A weight outside this band is no LoRA multiplier (slider LoRAs reach ±5 at most).
MAX_ABS_WEIGHT = 5.0

__all__ = [
    "DEFAULT_WEIGHT",
    "MAX_ABS_WEIGHT",
    "WeightInfo",
    "WeightSource",
    "default_weight",
    "html_to_text",
    "image_weights",
    "recommended_weight",
    "summarize",
    "weight_from_description",
    "weight_from_images",
    "weight_from_settings",
]


def _round(value: float) -> float:
    return round(value, 3)


def _valid(value: float) -> bool:
    return 0 < abs(value) <= MAX_ABS_WEIGHT


def _from_range(lo: float, hi: float, source: WeightSource) -> WeightInfo:
    lo, hi = min(lo, hi), max(lo, hi)
    # For a slider (-3 … 3) the midpoint is 0 = no effect: take the top instead.
    default = hi if lo < 0 < hi else (lo + hi) / 2
    return WeightInfo(_round(default), _round(lo), _round(hi), source)


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _number(value)
    return None


# --- 1. the service's own field -------------------------------------------------------------


def weight_from_settings(settings: Mapping[str, Any] | None) -> WeightInfo | None:
    """``{"strength", "minStrength", "maxStrength"}`` (Civitai's recommendedSettingsSchema)."""
    if not isinstance(settings, Mapping) or not settings:
        return None

    def num(key: str) -> float | None:
        value = settings.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and _valid(value):
            return float(value)
        return None

    strength, lo, hi = num("strength"), num("minStrength"), num("maxStrength")
    if strength is not None:
        return WeightInfo(_round(strength), lo, hi, WeightSource.CIVITAI)
    if lo is not None and hi is not None:
        return _from_range(lo, hi, WeightSource.CIVITAI)
    return None


# --- 2. the description ---------------------------------------------------------------------


#: Tags that start a new line of text (paragraphs, list items, breaks, cells).
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|pre|hr)\b[^>]*>", re.I
)
#: Any other tag or comment; "a < b" in prose is no tag (a letter, / or ! must follow "<").
_ANY_TAG = re.compile(r"<!--.*?-->|<[a-zA-Z/!?][^>]*>", re.S)


def html_to_text(text: str) -> str:
    """Plain text of a description (tags stripped, entities decoded, blocks on their own lines).

    Regular expressions rather than an HTML parser: listing 10,000 assets
    turns thousands of model descriptions into text, ten times faster so.
    """
    return html.unescape(_ANY_TAG.sub("", _BLOCK_TAG.sub("\n", text)))


_NUM = r"[-−]?(?:\d+(?:[.,]\d+)?|[.,]\d+)%?"
_RANGE_SEP = r"\s*(?:-|–|—|~|〜|to|and|or|/)\s*"
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
#: After the number: a resolution, a step count, an epoch count, a file size.
_NOT_A_WEIGHT_TAIL = re.compile(r"\s*(?:x\s*\d|px|steps?\b|epochs?\b|it/s|[kmgt]i?b\b|k\b)", re.I)
_PROMPT_TAG = re.compile(r"<(?:lora|lyco|locon|hypernet):([^:<>]+):\s*([-\d.]+)[^>]*>", re.I)


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
            end_a = match.end("b") if match.group("b") else match.end("a")
            if _NOT_A_WEIGHT_TAIL.match(text, end_a):
                continue  # "weight: 2GB", "512x768", "30 steps"
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
            recommended = any(w in window for w in ("recommend", "suggest", "best", "prefer"))
            out.append(_Candidate(a, b, recommended, match.start()))
    return sorted(out, key=lambda c: c.position)


def weight_from_description(text: str | None, *, names: Iterable[str] = ()) -> WeightInfo | None:
    """A weight stated in a description (HTML or plain text), or None.

    Statements near "recommended"/"suggested"/"best" win; a single value
    stated next to a range takes the range as min/max. ``<lora:NAME:W>``
    examples count when no statement does (only those naming this asset when
    ``names`` — file stems, model name, trigger words — are given).
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
            return WeightInfo(
                _round(best.lo),
                _round(min(ranged.lo, ranged.hi)),
                _round(max(ranged.lo, ranged.hi)),
                WeightSource.DESCRIPTION,
            )
        return WeightInfo(_round(best.lo), None, None, WeightSource.DESCRIPTION)
    wanted = {_norm(n) for n in names if _norm(n)}
    values = [
        v
        for name, raw in _PROMPT_TAG.findall(html.unescape(text))
        if (not wanted or _norm(name) in wanted) and (v := _number(raw)) is not None and _valid(v)
    ]
    return summarize(values, WeightSource.DESCRIPTION)


# --- 3. the example images ------------------------------------------------------------------


def _norm(name: Any) -> str:
    """A name as prompts spell it, compared loosely: stem, lower case, letters and digits."""
    if not name:
        return ""
    stem = PurePath(str(name).replace("\\", "/")).name
    for suffix in (".safetensors", ".ckpt", ".pt", ".pth", ".bin"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return re.sub(r"[^0-9a-z]", "", stem.lower())


def summarize(values: list[float], source: WeightSource) -> WeightInfo | None:
    """Median (default) and range of observed weights; None when there are none."""
    if not values:
        return None
    median = statistics.median(values)
    lo, hi = min(values), max(values)
    if lo == hi:
        return WeightInfo(_round(median), None, None, source)
    return WeightInfo(_round(median), _round(lo), _round(hi), source)


def _resources(meta: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = meta.get(key)
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _image_weight(
    meta: Mapping[str, Any], names: set[str], hashes: set[str], version_id: str | None
) -> float | None:
    """This asset's weight in one image's generation data (first source that names it)."""
    if version_id is not None:
        for res in _resources(meta, "civitaiResources"):
            if str(res.get("modelVersionId")) == version_id:
                w = _float(res.get("weight", res.get("strength")))
                if w is not None:
                    return w
    for res in _resources(meta, "additionalResources"):
        name = str(res.get("name") or "")
        air = re.search(r"civitai:\d+@(\d+)", name)
        if (air and air.group(1) == version_id) or (names and _norm(name) in names):
            w = _float(res.get("strength", res.get("weight")))
            if w is not None:
                return w
    for res in _resources(meta, "resources"):
        rhash = str(res.get("hash") or "").upper()
        if (rhash and rhash in hashes) or (names and _norm(res.get("name")) in names):
            w = _float(res.get("weight"))
            if w is not None:
                return w
    prompt = meta.get("prompt")
    if isinstance(prompt, str) and names:
        for name, raw in _PROMPT_TAG.findall(prompt):
            if _norm(name) in names and (w := _number(raw)) is not None:
                return w
    for key, value in meta.items():
        match = re.fullmatch(r"AddNet Model (\d+)", str(key))
        if not match or not isinstance(value, str):
            continue
        model = value.split("(", 1)[0].strip()
        inner = re.search(r"\(([0-9a-fA-F]+)\)", value)
        if (names and _norm(model) in names) or (inner and inner.group(1).upper() in hashes):
            w = _float(meta.get(f"AddNet Weight A {match.group(1)}"))
            if w is not None:
                return w
    return None


def image_weights(
    metas: Iterable[Mapping[str, Any] | None],
    *,
    names: Iterable[str] = (),
    hashes: Iterable[str] = (),
    version_id: int | str | None = None,
) -> list[float]:
    """This asset's weight in each example image's generation ``meta`` that names it.

    The asset is recognised by its Civitai version id (``civitaiResources``,
    AIRs in ``additionalResources``), its hashes (AutoV2/AutoV3 in
    ``resources``, ``AddNet Model``), or its names (file stem, model name,
    trigger words) in ``<lora:NAME:W>`` tags and resource names.
    """
    wanted_names = {n for n in (_norm(x) for x in names) if n}
    wanted_hashes = {h.upper() for h in hashes if h}
    vid = None if version_id is None else str(version_id)
    values = []
    for meta in metas:
        if not isinstance(meta, Mapping):
            continue
        w = _image_weight(meta, wanted_names, wanted_hashes, vid)
        if w is not None and _valid(w):
            values.append(w)
    return values


def weight_from_images(
    metas: Iterable[Mapping[str, Any] | None],
    *,
    names: Iterable[str] = (),
    hashes: Iterable[str] = (),
    version_id: int | str | None = None,
) -> WeightInfo | None:
    """Median and range of this asset's weight over example images, or None."""
    values = image_weights(metas, names=names, hashes=hashes, version_id=version_id)
    return summarize(values, WeightSource.EXAMPLE_IMAGES)


# --- 4. the default and the whole chain ------------------------------------------------------


def default_weight(kind: Kind) -> WeightInfo | None:
    """1.0 for LoRAs and hypernetworks; None where a weight means nothing (embeddings, …)."""
    if kind in (Kind.LORA, Kind.HYPERNETWORK):
        return WeightInfo(DEFAULT_WEIGHT, None, None, WeightSource.DEFAULT)
    return None


def recommended_weight(
    kind: Kind,
    *,
    settings: Mapping[str, Any] | None = None,
    descriptions: Iterable[str | None] = (),
    image_metas: Iterable[Mapping[str, Any] | None] = (),
    names: Iterable[str] = (),
    hashes: Iterable[str] = (),
    version_id: int | str | None = None,
) -> WeightInfo | None:
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
