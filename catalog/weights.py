"""Recommended LoRA weights from what Civitai publishes (SPEC-APIS.md A.7).

The public API has no strength field, so the fallback chain is: the
description ("Strength: 0.8", "weight 0.6-0.8", ``<lora:x:0.7>``), then the
weights people used in the version's example images, then 1.0. Pure
functions over JSON: no network, no database.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .knowledge import valid_weight as _valid_any

#: Published strengths outside this range are misreads ("weight: 2GB", "strength 7").
PLAUSIBLE = 2.0


def valid_weight(value: Any) -> float | None:
    """A plausible published LoRA strength, or None."""
    number = _valid_any(value)
    return number if number is not None and abs(number) <= PLAUSIBLE else None


#: A number that is not the start of a size, a percentage or a count ("2GB", "30 epochs").
_NUM = r"(-?\d+(?:\.\d+)?|-?\.\d+)(?![a-z%\d])(?!\s*(?:[kmgt]i?b|px|epochs?|steps?)\b)"
_RANGE_SEP = r"\s*(?:-|–|—|~|to|or)\s*"
_WORD = (
    r"(?:recommended\s+|suggested\s+|preferred\s+|best\s+)?"
    r"(?:lora\s+|model\s+|lyco(?:ris)?\s+)?"
    r"(?:weights?|strengths?|multiplier)"
)
_GLUE = r"(?:\s*(?:\([^)]*\)\s*)?(?::|=|of|is|at|around|about|between|from|\s)\s*)+"
_RANGE_RE = re.compile(_WORD + _GLUE + _NUM + _RANGE_SEP + _NUM, re.IGNORECASE)
_SINGLE_RE = re.compile(_WORD + _GLUE + _NUM, re.IGNORECASE)
_LORA_TAG_RE = re.compile(r"<(?:lora|lyco|hypernet):([^:>]+):([^:>]+)(?::[^>]*)?>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")


def html_to_text(text: str) -> str:
    """Civitai descriptions are HTML: the visible text, one line per block."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</li>|</h\d>|</div>", "\n", text)
    return html.unescape(_TAG_RE.sub(" ", text))


def weight_from_description(
    *texts: str | None, names: Sequence[str] = ()
) -> tuple[float, float | None, float | None] | None:
    """(default, min, max) from free text, or None when it names no weight.

    A range gives min/max and its middle as the default unless a single value
    is also stated. ``<lora:NAME:W>`` in the text counts too (any NAME when no
    ``names`` are given).
    """
    for raw in texts:
        if not raw:
            continue
        text = html_to_text(raw)
        low = high = single = None
        match = _RANGE_RE.search(text)
        if match:
            a, b = valid_weight(match.group(1)), valid_weight(match.group(2))
            if a is not None and b is not None and a != b:
                low, high = min(a, b), max(a, b)
        for m in _SINGLE_RE.finditer(text):
            if match and m.start() == match.start():
                continue
            single = valid_weight(m.group(1))
            if single is not None:
                break
        if single is None:
            tags = _lora_tag_weights(html.unescape(raw), names)
            single = tags[0] if tags else None
        if low is not None and high is not None:
            default = single if single is not None and low <= single <= high else (low + high) / 2
            return round(default, 3), low, high
        if single is not None:
            return single, None, None
    return None


def _lora_tag_weights(text: str, names: Sequence[str]) -> list[float]:
    wanted = {n.lower() for n in names}
    out = []
    for name, weight in _LORA_TAG_RE.findall(text):
        if wanted and name.strip().lower() not in wanted:
            continue
        value = valid_weight(weight.strip())
        if value is not None:
            out.append(value)
    return out


def weights_from_images(
    images: Iterable[Mapping[str, Any]],
    *,
    version_id: int | str | None,
    names: Sequence[str] = (),
    hashes: Sequence[str] = (),
) -> list[float]:
    """Weights this version was used at in Civitai example images' generation ``meta``.

    Matches ``civitaiResources`` by version id, ``resources`` by AutoV3/AutoV2
    hash or name, ``additionalResources`` by ``civitai:M@V`` URN or name, and
    ``<lora:NAME:W>`` in the prompt by name.
    """
    names_l = {n.lower() for n in names if n}
    hashes_l = {h.lower() for h in hashes if h}
    vid = str(version_id) if version_id is not None else None
    found: list[float] = []
    for image in images:
        meta = image.get("meta") if isinstance(image, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        weight = _weight_in_meta(meta, vid, names_l, hashes_l)
        if weight is not None:
            found.append(weight)
    return found


def _weight_in_meta(
    meta: Mapping[str, Any], vid: str | None, names: set[str], hashes: set[str]
) -> float | None:
    for res in _list(meta.get("civitaiResources")):
        if vid is not None and str(res.get("modelVersionId")) == vid:
            w = valid_weight(res.get("weight", res.get("strength")))
            if w is not None:
                return w
    for res in _list(meta.get("resources")):
        name = str(res.get("name") or "").lower()
        rhash = str(res.get("hash") or "").lower()
        if (rhash and rhash in hashes) or (name and name in names):
            w = valid_weight(res.get("weight"))
            if w is not None:
                return w
    for res in _list(meta.get("additionalResources")):
        name = str(res.get("name") or "")
        urn_match = vid is not None and re.search(rf"@{re.escape(vid)}\b", name)
        if urn_match or name.lower() in names:
            w = valid_weight(res.get("strength", res.get("weight")))
            if w is not None:
                return w
    prompt = meta.get("prompt")
    if isinstance(prompt, str) and names:
        tags = _lora_tag_weights(prompt, sorted(names))
        if tags:
            return tags[0]
    return None


def _list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def summarize(weights: Sequence[float]) -> tuple[float, float | None, float | None] | None:
    """(median, min, max) of observed weights; None when there are none."""
    if not weights:
        return None
    low, high = min(weights), max(weights)
    median = round(statistics.median(weights), 3)
    if low == high:
        return median, None, None
    return median, low, high
