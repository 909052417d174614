"""Shared vocabulary of the classifier: the stripped view of an index, hints, precision.

Private to :mod:`.classify`. Everything here is a pure function of a
:class:`~.tensor_index.TensorIndex` (and the file name); nothing reads a file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from ._lazy_re import LazyPattern
from .gguf_index import QUANT_TYPES
from .kinds import Base, Component, Kind
from .report import Classification
from .tensor_index import TensorIndex, TensorInfo

#: Containers that wrap a whole state dict in the wild. ``model.`` is handled
#: apart: ``model.diffusion_model.`` is the real LDM prefix, and ESRGAN's old
#: architecture names its layers ``model.0.weight``.
_WRAPPERS: tuple[str, ...] = (
    "state_dict.",
    "module.",
    "params_ema.",
    "params.",
    "model_state_dict.",
    "_orig_mod.",
    "base_model.model.",
    "model.",
)
_MODEL_WRAPPER_EXCEPTIONS = LazyPattern(r"^model\.(?:diffusion_model\.|model\.|\d+\.)")
#: Top-level containers of training state saved beside the weights: Lightning's
#: ``optimizer_states``, A1111's ``optimizer_state_dict`` (2022 hypernetworks),
#: plain ``optimizer``/``lr_scheduler``/AMP ``scaler`` dumps. Adam keeps two moments per
#: parameter, so these outnumber the weights and would hide the model's layout.
TRAINING_STATE: tuple[str, ...] = (
    "optimizer_states.",
    "optimizer_state_dict.",
    "optimizer.",
    "optimizers.",
    "lr_schedulers.",
    "lr_scheduler.",
    "scaler.",
)

#: Text-encoder hidden widths → the encoder that has them.
ENCODER_BY_WIDTH: dict[int, str] = {768: "clip-l", 1024: "clip-h", 1280: "clip-g", 4096: "t5xxl"}

#: Bases that share an architecture family (no warning between them).
_FAMILY: dict[Base, str] = {
    Base.SD1: "sd1",
    Base.SD2: "sd2",
    Base.SDXL: "sdxl",
    Base.SDXL_REFINER: "sdxl",
    Base.SD3: "sd3",
    Base.FLUX: "flux",
}

_PRECISION: dict[str, str] = {
    "F16": "fp16",
    "BF16": "bf16",
    "F32": "fp32",
    "F64": "fp64",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
}


@dataclass(slots=True)
class View:
    """An index with its wrapper prefixes (``state_dict.``, ``module.``…) removed.

    Training state (``optimizer_states.*`` beside ``state_dict.*`` in a
    training ``.ckpt``) is set aside and only counted; other names that did
    not carry the wrapper stay as they were. The first
    one and two dotted segments of every name are kept as sets, because the
    detectors ask "is there anything under ``double_blocks.``?" dozens of
    times per file and checkpoints have thousands of names.
    """

    tensors: dict[str, TensorInfo]
    values: dict[str, Any]
    metadata: dict[str, str]
    wrappers: list[str] = field(default_factory=list)
    #: Tensors of training state (:data:`TRAINING_STATE`) set aside, not in ``tensors``.
    training_tensors: int = 0
    _heads: tuple[set[str], set[str]] | None = None

    def shape(self, name: str) -> tuple[int, ...] | None:
        info = self.tensors.get(name)
        return None if info is None else info.shape

    def has(self, name: str) -> bool:
        return name in self.tensors

    def _head_sets(self) -> tuple[set[str], set[str]]:
        if self._heads is None:
            one: set[str] = set()
            two: set[str] = set()
            for name in self.tensors:
                parts = name.split(".", 2)
                if len(parts) > 1:
                    one.add(parts[0] + ".")
                if len(parts) > 2:
                    two.add(parts[0] + "." + parts[1] + ".")
            self._heads = (one, two)
        return self._heads

    def any_prefix(self, *prefixes: str) -> bool:
        one, two = self._head_sets()
        slow: list[str] = []
        for prefix in prefixes:
            dots = prefix.count(".")
            if prefix.endswith(".") and dots == 1:
                if prefix in one:
                    return True
            elif prefix.endswith(".") and dots == 2:
                if prefix in two:
                    return True
            else:
                slow.append(prefix)
        if slow:
            first = tuple(slow)
            return any(n.startswith(first) for n in self.tensors)
        return False

    def sub(self, prefix: str) -> dict[str, TensorInfo]:
        """Tensors under ``prefix`` with the prefix cut off."""
        if "." in prefix and prefix.split(".", 1)[0] + "." not in self._head_sets()[0]:
            return {}
        cut = len(prefix)
        return {n[cut:]: t for n, t in self.tensors.items() if n.startswith(prefix)}

    def value(self, name: str) -> Any:
        """A non-tensor value, also when a reader flattened a list into ``name.0``, ``name.1``."""
        if name in self.values:
            return self.values[name]
        items: list[tuple[int, Any]] = []
        prefix = name + "."
        for key, val in self.values.items():
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                items.append((int(key[len(prefix) :]), val))
        if items:
            return [v for _, v in sorted(items)]
        return None


def make_view(index: TensorIndex) -> View:
    tensors = {n: t for n, t in index.tensors.items() if not n.startswith(TRAINING_STATE)}
    training_tensors = len(index.tensors) - len(tensors)
    values = dict(index.values)
    wrappers: list[str] = []
    changed = True
    while changed and tensors:
        changed = False
        heads = {n.split(".", 1)[0] + "." for n in tensors if "." in n}
        for wrapper in _WRAPPERS:
            if wrapper.split(".", 1)[0] + "." not in heads:
                continue
            carrying = [n for n in tensors if n.startswith(wrapper)]
            if not carrying or len(carrying) * 2 < len(tensors):
                continue
            if wrapper == "model." and any(_MODEL_WRAPPER_EXCEPTIONS.match(n) for n in carrying):
                continue
            tensors = _strip(tensors, wrapper)
            values = _strip(values, wrapper)
            wrappers.append(wrapper)
            changed = True
            break
    return View(
        tensors=tensors,
        values=values,
        metadata=dict(index.metadata),
        wrappers=wrappers,
        training_tensors=training_tensors,
    )


def _strip(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in mapping.items():
        if name.startswith(prefix):
            out[name[len(prefix) :]] = item
        else:
            out.setdefault(name, item)
    return out


def precision(infos: Iterable[TensorInfo]) -> str | None:
    """fp16/bf16/fp32/fp8 by the share of elements; ``mixed`` when no dtype holds 90 %.

    fp8 files keep norms and biases in a wider type, so fp8 wins at half. GGUF files
    quantize the weights the same way: a ggml quant type (``Q8_0``, ``Q4_K``…) holding
    half the elements wins, the most common one named.
    """
    by_dtype: dict[str, int] = {}
    for info in infos:
        by_dtype[info.dtype] = by_dtype.get(info.dtype, 0) + max(info.numel, 1)
    quants = Counter({d: n for d, n in by_dtype.items() if d in QUANT_TYPES})
    if quants and sum(quants.values()) * 2 >= sum(by_dtype.values()):
        return quants.most_common(1)[0][0]
    totals: Counter[str] = Counter()
    for dtype, count in by_dtype.items():
        label = _PRECISION.get(dtype)
        if label is not None:
            totals[label] += count
    if not totals:
        return None
    whole = sum(totals.values())
    if totals["fp8"] * 2 >= whole:
        return "fp8"
    label, count = totals.most_common(1)[0]
    return label if count >= 0.9 * whole else "mixed"


def parameters(infos: Iterable[TensorInfo]) -> int:
    return sum(info.numel for info in infos)


def most_common(items: Iterable[int]) -> int | None:
    counts = Counter(items)
    if not counts:
        return None
    top = max(counts.values())
    return max(v for v, c in counts.items() if c == top)


def family(base: Base) -> str | None:
    return _FAMILY.get(base)


def result(
    kind: Kind,
    base: Base = Base.UNKNOWN,
    component: Component | None = None,
    details: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
    *,
    candidates: Iterable[Base] = (),
) -> Classification:
    """A Classification whose base, when shapes cannot decide, may come from hints.

    ``candidates`` are the bases the shapes allow; a metadata or name hint among
    them settles an ``unknown`` base later (see ``classify._apply_hints``).
    """
    out = dict(details or {})
    cands = [b.value for b in candidates]
    if base is Base.UNKNOWN and cands:
        out["candidates"] = cands
    return Classification(
        kind=kind, base=base, component=component, details=out, warnings=list(warnings or [])
    )


# --------------------------------------------------------------------------- hints


@dataclass(frozen=True, slots=True)
class Hint:
    """A base (or prediction, or kind) some label claims: metadata key or file name."""

    value: str
    source: str  # "metadata" | "name" | "key"
    key: str
    raw: str

    def says(self) -> str:
        if self.source == "metadata":
            return f"metadata says {self.value} ({self.key}={_short(self.raw)})"
        return f"{self.source} says {self.value}"


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def base_from_text(text: str) -> Base | None:
    """The base a free-form label names: ``sd_v1``, ``sdxl_base_v1-0``, ``flux1``…"""
    t = text.lower()
    if "flux" in t:
        return Base.FLUX
    if re.search(r"(?:^|[^a-z0-9])sd[-_ .]?3|stable[-_ ]diffusion[-_ ]3|sd35", t):
        return Base.SD3
    if re.search(r"sdxl|(?:^|[^a-z])xl|xl(?:[^a-z]|$)|pony|illustrious|noobai", t):
        return Base.SDXL_REFINER if "refiner" in t else Base.SDXL
    if re.search(r"(?:^|[^a-z0-9])(?:sd[-_ .]?v?2|v2(?:[-_.]\d)?(?:$|[^0-9])|2\.[01])", t):
        return Base.SD2
    if re.search(r"(?:^|[^a-z0-9])(?:sd[-_ .]?v?1|v1(?:[-_.]\d)?(?:$|[^0-9])|1\.[45])", t):
        return Base.SD1
    return None


_ARCH_BASE: tuple[tuple[str, Base], ...] = (
    ("stable-diffusion-xl-v1-refiner", Base.SDXL_REFINER),
    ("stable-diffusion-xl", Base.SDXL),
    ("stable-diffusion-3", Base.SD3),
    ("stable-diffusion-v2", Base.SD2),
    ("stable-diffusion-v1", Base.SD1),
    ("flux", Base.FLUX),
)


#: ``general.architecture`` values ComfyUI-GGUF writes for the families we know.
_GGUF_ARCH_BASE: dict[str, Base] = {
    "sd1": Base.SD1,
    "sdxl": Base.SDXL,
    "sd3": Base.SD3,
    "flux": Base.FLUX,
}


def metadata_base_hints(metadata: Mapping[str, str]) -> list[Hint]:
    """Every base the metadata claims, most trustworthy first."""
    hints: list[Hint] = []
    arch = metadata.get("modelspec.architecture")
    if arch:
        for prefix, base in _ARCH_BASE:
            if arch.lower().startswith(prefix):
                hints.append(Hint(base.value, "metadata", "modelspec.architecture", arch))
                break
    version = metadata.get("ss_base_model_version")
    if version:
        base = base_from_text(version)
        if base is not None:
            hints.append(Hint(base.value, "metadata", "ss_base_model_version", version))
    arch = metadata.get("general.architecture")  # GGUF (ComfyUI-GGUF's converter)
    if arch and arch.strip().lower() in _GGUF_ARCH_BASE:
        base = _GGUF_ARCH_BASE[arch.strip().lower()]
        hints.append(Hint(base.value, "metadata", "general.architecture", arch))
    v2 = metadata.get("ss_v2")
    if v2 and v2.strip().lower() == "true" and not version:
        hints.append(Hint(Base.SD2.value, "metadata", "ss_v2", v2))
    return hints


def value_base_hints(values: Mapping[str, Any]) -> list[Hint]:
    """A1111 pickles name the checkpoint they were trained on (``sd_checkpoint_name``)."""
    name = values.get("sd_checkpoint_name")
    if isinstance(name, str) and name:
        base = base_from_text(name)
        if base is not None:
            return [Hint(base.value, "metadata", "sd_checkpoint_name", name)]
    return []


_NAME_BASES: tuple[tuple[LazyPattern, Base], ...] = (
    (LazyPattern(r"flux|taef1|^ae$", re.I), Base.FLUX),
    (
        LazyPattern(r"(?:^|[^a-z0-9])sd[-_ ]?3|sd35|taesd3|stable[-_ ]?diffusion[-_ ]?3", re.I),
        Base.SD3,
    ),
    (LazyPattern(r"(?:sd[-_ ]?)?xl.*refiner|refiner.*(?:sd[-_ ]?)?xl", re.I), Base.SDXL_REFINER),
    (
        LazyPattern(r"sdxl|sd[-_ ]xl|(?:^|[^a-z])xl(?:[^a-z]|$)|pony|illustrious|noobai", re.I),
        Base.SDXL,
    ),
    # camelCase names: "juggernautXL", "ponyDiffusionV6XL".
    (LazyPattern(r"[a-z0-9]XL(?:[^a-z]|$)"), Base.SDXL),
    (
        LazyPattern(r"sd[-_ .]?v?2(?:[-_ .]?[01])?(?![0-9])|v2[-_.][01](?![0-9])|768[-_]v\b", re.I),
        Base.SD2,
    ),
    (
        LazyPattern(
            r"sd[-_ .]?v?1(?:[-_ .]?[45x])?(?![0-9])|(?<![0-9.])v1[-_.][45](?![0-9])"
            r"|vae[-_]ft[-_](?:mse|ema)|taesd(?![a-z0-9])",
            re.I,
        ),
        Base.SD1,
    ),
)


def stem_of(filename: str | None) -> str:
    if not filename:
        return ""
    name = PurePath(filename.replace("\\", "/")).name
    for suffix in (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def extension_of(filename: str | None) -> str:
    if not filename:
        return ""
    return PurePath(filename.replace("\\", "/")).suffix.lower()


def name_base_hint(filename: str | None) -> Hint | None:
    stem = stem_of(filename)
    if not stem:
        return None
    for pattern, base in _NAME_BASES:
        if pattern.search(stem):
            return Hint(base.value, "name", "filename", stem)
    return None


_VPRED_NAME = LazyPattern(
    r"(?:^|[^a-z])v[-_ ]?pred(?:iction)?(?:[^a-z]|$)|768[-_]v(?:[^a-z]|$)", re.I
)


def prediction_hints(view: View, filename: str | None) -> list[Hint]:
    """v-prediction is invisible in shapes: keys ComfyUI writes, metadata, or the name."""
    hints: list[Hint] = []
    if view.has("v_pred") or view.has("edm_vpred.sigma_max"):
        hints.append(Hint("v", "key", "v_pred", "v_pred"))
    meta = view.metadata
    pred = meta.get("modelspec.prediction_type")
    if pred:
        value = "v" if pred.strip().lower() in ("v", "v_prediction", "v-prediction") else "epsilon"
        hints.append(Hint(value, "metadata", "modelspec.prediction_type", pred))
    vparam = meta.get("ss_v_parameterization")
    if vparam:
        value = "v" if vparam.strip().lower() == "true" else "epsilon"
        hints.append(Hint(value, "metadata", "ss_v_parameterization", vparam))
    arch = meta.get("modelspec.architecture", "")
    if re.search(r"768-v(?:/|$)", arch):
        hints.append(Hint("v", "metadata", "modelspec.architecture", arch))
    stem = stem_of(filename)
    if stem and _VPRED_NAME.search(stem):
        hints.append(Hint("v", "name", "filename", stem))
    return hints


_ARCH_KIND: tuple[tuple[str, Kind], ...] = (
    ("lora", Kind.LORA),
    ("lycoris", Kind.LORA),
    ("lora-", Kind.LORA),
    ("textual-inversion", Kind.EMBEDDING),
    ("hypernetwork", Kind.HYPERNETWORK),
    ("vae", Kind.VAE),
    ("controlnet", Kind.OTHER),
    ("control-net", Kind.OTHER),
)


def metadata_kind_hint(metadata: Mapping[str, str]) -> Hint | None:
    """The kind ``modelspec.architecture`` names: ``…/lora``, ``…/textual-inversion``…

    A bare architecture (no ``/adapter``) names a whole checkpoint.
    """
    arch = metadata.get("modelspec.architecture")
    if not arch:
        return None
    if "/" not in arch:
        return Hint(Kind.CHECKPOINT.value, "metadata", "modelspec.architecture", arch)
    adapter = arch.split("/", 1)[1].lower()
    for prefix, kind in _ARCH_KIND:
        if adapter.startswith(prefix):
            return Hint(kind.value, "metadata", "modelspec.architecture", arch)
    return None


_NAME_KINDS: tuple[tuple[LazyPattern, Kind], ...] = (
    (LazyPattern(r"\.vae$", re.I), Kind.VAE),
    (LazyPattern(r"hypernet", re.I), Kind.HYPERNETWORK),
    (LazyPattern(r"(?:^|[^a-z])(?:lora|locon|lycoris|loha|lokr)(?:[^a-z]|$)", re.I), Kind.LORA),
)


def name_kind_hint(filename: str | None) -> Hint | None:
    stem = stem_of(filename)
    for pattern, kind in _NAME_KINDS:
        if stem and pattern.search(stem):
            return Hint(kind.value, "name", "filename", stem)
    return None


_NEGATIVE = LazyPattern(
    r"(?:^|[^a-z])neg(?:[^a-z]|$)|negative|easyneg|deepneg|unaesthetic|verybad"
    r"|bad[-_ ]?(?:hands?|handv\d*|prompt|artist|quality|dream|pictures?|anatomy|image|x)",
    re.I,
)


def negative_hint(*texts: str | None) -> bool:
    return any(t and _NEGATIVE.search(t) for t in texts)


# --------------------------------------------------------------------------- metadata digest

_HINT_KEYS: tuple[tuple[str, str], ...] = (
    # GGUF's own labels first: a modelspec key, where a file has both, overwrites them.
    ("general.name", "title"),
    ("general.architecture", "architecture"),
    ("ss_output_name", "output_name"),
    ("modelspec.title", "title"),
    ("modelspec.author", "author"),
    ("modelspec.trigger_phrase", "trigger_phrase"),
    ("modelspec.usage_hint", "usage_hint"),
    ("modelspec.description", "description"),
    ("ss_training_comment", "training_comment"),
    ("ss_sd_model_name", "sd_model_name"),
    ("ss_base_model_version", "base_model_version"),
    ("modelspec.architecture", "architecture"),
    ("modelspec.resolution", "resolution"),
    ("ss_network_module", "network_module"),
)
_VALUE_HINT_KEYS: tuple[tuple[str, str], ...] = (
    ("name", "name"),
    ("step", "step"),
    ("sd_checkpoint", "sd_checkpoint"),
    ("sd_checkpoint_name", "sd_checkpoint_name"),
    ("global_step", "global_step"),
    ("epoch", "epoch"),
)
_TOP_TAGS = 10
_DATASET_DIR = LazyPattern(r"^\d+_(.+)$")


def hints_digest(view: View) -> dict[str, Any]:
    """What labels inside the file claim (never trusted, always shown): ``details["hints"]``."""
    meta = view.metadata
    out: dict[str, Any] = {}
    for key, label in _HINT_KEYS:
        value = meta.get(key)
        if value and value.strip() and value.strip().lower() != "none":
            out[label] = _short(value.strip(), 500)
    args = _json(meta.get("ss_network_args"))
    if isinstance(args, dict):
        out["network_args"] = {str(k): _scalar(v) for k, v in args.items()}
    tags = tag_counts(meta.get("ss_tag_frequency"))
    if tags:
        out["top_tags"] = [t for t, _ in tags.most_common(_TOP_TAGS)]
    dirs = dataset_dirs(meta)
    if dirs:
        out["dataset_dirs"] = dirs
    for key, label in _VALUE_HINT_KEYS:
        value = view.values.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            out[label] = value if not isinstance(value, str) else _short(value, 200)
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        data = json.loads(text)
        # Some trainers double-encode their JSON.
        if isinstance(data, str):
            data = json.loads(data)
        return data
    except (ValueError, TypeError):
        return None


def tag_counts(text: str | None) -> Counter[str]:
    """Tag counts of kohya's ``ss_tag_frequency`` (``{dataset_dir: {tag: count}}``), merged."""
    data = _json(text)
    counts: Counter[str] = Counter()
    if not isinstance(data, dict):
        return counts
    for tags in data.values():
        if not isinstance(tags, dict):
            continue
        for tag, count in tags.items():
            tag = str(tag).strip()
            if tag and isinstance(count, int | float):
                counts[tag] += int(count)
    return counts


def dataset_dirs(meta: Mapping[str, str]) -> list[str]:
    """Concept names from kohya's ``<repeats>_<name>`` folders: often the trigger word."""
    names: list[str] = []
    for key in ("ss_dataset_dirs", "ss_tag_frequency"):
        data = _json(meta.get(key))
        if not isinstance(data, dict):
            continue
        for folder in data:
            match = _DATASET_DIR.match(str(folder).strip())
            name = match.group(1).strip() if match else ""
            if name and name not in names:
                names.append(name)
        if names:
            break
    return names


def network_args(meta: Mapping[str, str]) -> dict[str, Any]:
    data = _json(meta.get("ss_network_args"))
    return data if isinstance(data, dict) else {}


def number(text: str | None) -> int | float | None:
    """``"16"``, ``"16.0"``, ``"0.5"`` → 16, 16, 0.5; anything else → None."""
    if text is None:
        return None
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() else value
