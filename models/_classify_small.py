"""The small add-ons: textual-inversion embeddings and A1111 hypernetworks."""

from __future__ import annotations

import re
from typing import Any

from ._classify_common import ENCODER_BY_WIDTH, View, parameters, precision, result
from ._lazy_re import LazyPattern
from .kinds import Base, Kind
from .report import Classification
from .tensor_index import TensorInfo

# --------------------------------------------------------------------------- embeddings

#: Keys that name the encoder a vector block is for (kohya, OneTrainer, SD.Next…).
_ENCODER_KEYS: dict[str, str | None] = {
    "clip_l": "clip-l",
    "clip_g": "clip-g",
    "t5xxl": "t5xxl",
    "t5": "t5xxl",
    "text_encoders_0": None,
    "text_encoders_1": None,
    "emb": None,
    "emb2": None,
}
_MAX_VECTORS = 512
_MODELISH = LazyPattern(r"(?:^|\.)(?:weight|bias|alpha)$|(?:^|\.)(?:lora|hada|lokr)")


def _vectors(info: TensorInfo, *, any_width: bool = False) -> tuple[int, int] | None:
    """(vectors, width) of an embedding tensor: ``[width]`` or ``[n, width]``.

    Where the file's structure already says "embedding" (A1111's
    ``string_to_param``, ``emb_params``, keys named after an encoder),
    ``any_width`` accepts widths no family has (tiny test models); a bare
    ``{name: tensor}`` dict counts only with a real encoder's width.
    """
    shape = info.shape
    width = shape[-1] if shape else 0
    if not (width in ENCODER_BY_WIDTH or (any_width and width > 0)):
        return None
    if len(shape) == 1:
        return 1, width
    if len(shape) == 2 and 0 < shape[0] <= _MAX_VECTORS:
        return shape[0], width
    return None


def classify_embedding(view: View, stem: str) -> Classification | None:
    tensors = {n: t for n, t in view.tensors.items() if not n.startswith("string_to_token.")}
    if not tensors or len(tensors) > 16:
        return None
    blocks: list[tuple[str, int, int]] = []  # (name, vectors, width)
    fmt: str
    tokens: list[str] = []
    params = {n: t for n, t in tensors.items() if n.startswith("string_to_param.")}
    if params:
        fmt = "a1111"
        for name, info in params.items():
            shape = _vectors(info, any_width=True)
            if shape is None:
                return None
            blocks.append((name, *shape))
        name_value = view.values.get("name")
        if isinstance(name_value, str) and name_value:
            tokens.append(name_value)
    elif set(tensors) == {"emb_params"}:
        fmt = "emb_params"
        shape = _vectors(tensors["emb_params"], any_width=True)
        if shape is None:
            return None
        blocks.append(("emb_params", *shape))
    elif set(tensors) <= set(_ENCODER_KEYS):
        fmt = "sdxl"
        for name in sorted(tensors, key=list(_ENCODER_KEYS).index):
            shape = _vectors(tensors[name], any_width=True)
            if shape is None:
                return None
            blocks.append((name, *shape))
    else:
        fmt = "diffusers"
        for name, info in tensors.items():
            if _MODELISH.search(name) or name.count(".") > 1:
                return None
            shape = _vectors(info)
            if shape is None:
                return None
            blocks.append((name, *shape))
            if name:  # a tensor saved alone has no name
                tokens.append(name)

    encoders: list[str] = []
    widths: list[int] = []
    for _name, _n, width in blocks:
        if width not in widths:
            widths.append(width)
        encoder = ENCODER_BY_WIDTH.get(width)
        if encoder is not None and encoder not in encoders:
            encoders.append(encoder)
    warnings: list[str] = []
    enc = set(encoders)
    candidates: list[Base] = []
    base = Base.UNKNOWN
    if any(w not in ENCODER_BY_WIDTH for w in widths):
        pass  # a width no family's text encoder has (tiny test models): unknown, no candidates
    elif enc == {"clip-l"}:
        base = Base.SD1
    elif enc == {"clip-h"}:
        base = Base.SD2
    elif enc == {"clip-l", "clip-g"}:
        base = Base.SDXL
    elif enc == {"clip-g"}:
        base = Base.SDXL
        warnings.append("embedding has only the CLIP-G part of an SDXL embedding")
    elif enc == {"clip-l", "t5xxl"}:
        base = Base.FLUX
    elif enc == {"clip-l", "clip-g", "t5xxl"}:
        base = Base.SD3
    elif enc == {"t5xxl"}:
        candidates = [Base.FLUX, Base.SD3]
    else:
        warnings.append(f"embedding mixes encoder widths {sorted(widths)}")
    if fmt != "sdxl" and len(blocks) > 1 and len(widths) > 1:
        warnings.append("embedding holds vectors of different widths")
    if fmt in ("diffusers", "a1111") and len(blocks) > 1:
        warnings.append(
            f"embedding holds {len(blocks)} terms: A1111 refuses such a file, ComfyUI uses"
            " only the first"
        )
    if set(tensors) == {""}:
        warnings.append("a tensor saved alone, not a dict: neither A1111 nor ComfyUI can load it")

    vectors = blocks[0][1] if blocks else 0
    details: dict[str, Any] = {
        "vectors": vectors,
        "width": widths[0] if widths else None,
        "widths": widths,
        "tokens": tokens,
        "encoders": encoders,
        "format": fmt,
        "negative": False,  # set from name/metadata hints by the caller
        "precision": precision(tensors.values()),
        "params": parameters(tensors.values()),
    }
    return result(Kind.EMBEDDING, base, details=details, warnings=warnings, candidates=candidates)


# --------------------------------------------------------------------------- hypernetworks

_HN_KEY = LazyPattern(
    r"^(?P<width>\d+)\.(?P<slot>\d+)\.(?P<layer>linear\.\d+|linear1|linear2)\.(?P<what>weight|bias)$"
)


#: A1111's hypernetwork settings saved beside the weights.
_HN_VALUES = ("layer_structure", "activation_func", "is_layer_norm", "weight_initialization")
#: Cross-attention widths of the SD family (320/640/1280 for the UNet's own layers).
_SD_HN_WIDTHS = frozenset({320, 640, 768, 1024, 1280, 2048})


def _keyed_by_input_width(good: list[tuple[re.Match[str], TensorInfo]]) -> bool:
    """Does every module's first Linear take exactly its int key's width as input?

    That is what makes a dict of int-keyed modules an A1111 hypernetwork, at any width.
    """
    firsts: dict[tuple[str, str], tuple[int, TensorInfo]] = {}
    for m, info in good:
        if m["what"] != "weight" or len(info.shape) != 2:
            continue
        layer = m["layer"]
        order = 0 if layer == "linear1" else 1 if layer == "linear2" else int(layer.split(".")[1])
        key = (m["width"], m["slot"])
        if key not in firsts or order < firsts[key][0]:
            firsts[key] = (order, info)
    return bool(firsts) and all(
        info.shape[1] == int(width) for (width, _), (_, info) in firsts.items()
    )


def classify_hypernetwork(view: View) -> Classification | None:
    matches = [(_HN_KEY.match(n), t) for n, t in view.tensors.items()]
    good = [(m, t) for m, t in matches if m]
    if not good or len(good) * 2 < len(view.tensors):
        return None
    widths = sorted({int(m["width"]) for m, _ in good})
    structured = any(view.values.get(k) is not None for k in _HN_VALUES)
    if not (structured or _keyed_by_input_width(good)) and not all(64 <= w <= 8192 for w in widths):
        return None
    if not all(w > 0 for w in widths):
        return None
    # Infer the structure from the first width's first module: Linear weights in order.
    first_width = 768 if 768 in widths else 1024 if 1024 in widths else widths[0]
    layers: dict[str, TensorInfo] = {
        m["layer"]: t
        for m, t in good
        if int(m["width"]) == first_width and m["slot"] == "0" and m["what"] == "weight"
    }

    def order(layer: str) -> int:
        if layer.startswith("linear."):
            return int(layer.split(".")[1])
        return int(layer[-1]) - 1

    linears = [layers[k] for k in sorted(layers, key=order) if len(layers[k].shape) == 2]
    norms = [layers[k] for k in layers if len(layers[k].shape) == 1]
    inferred: list[float] | None = None
    if linears:
        structure = [linears[0].shape[1] / first_width] + [
            lin.shape[0] / first_width for lin in linears
        ]
        inferred = [int(x) if float(x).is_integer() else round(x, 3) for x in structure]
    layer_structure = _number_list(view.value("layer_structure")) or inferred
    layer_norm = view.values.get("is_layer_norm")
    dropout = view.values.get("use_dropout")
    activation = view.values.get("activation_func")
    details: dict[str, Any] = {
        "layer_structure": layer_structure,
        "activation": activation if isinstance(activation, str) else None,
        "layer_norm": bool(layer_norm) if isinstance(layer_norm, bool) else bool(norms),
        "dropout": bool(dropout) if isinstance(dropout, bool) else False,
        "widths": widths,
        "weight_init": _str_or_none(view.values.get("weight_initialization")),
        "legacy_layers": any(m["layer"] in ("linear1", "linear2") for m, _ in good),
        "precision": precision(t for _, t in good),
        "params": parameters(t for _, t in good),
    }
    dropout_structure = _number_list(view.value("dropout_structure"))
    if dropout_structure:
        details["dropout_structure"] = dropout_structure
    warnings: list[str] = []
    candidates: list[Base] = []
    has768, has1024 = 768 in widths, 1024 in widths
    if has768 and not has1024:
        base = Base.SD1
    elif has1024 and not has768:
        base = Base.SD2
    elif 2048 in widths and not (has768 or has1024):
        base = Base.SDXL
    elif not set(widths) <= _SD_HN_WIDTHS:
        base = Base.UNKNOWN  # widths no family has (tiny test models): no candidates
    else:
        base = Base.UNKNOWN
        candidates = [Base.SD1, Base.SD2]
        if has768 and has1024:
            warnings.append("hypernetwork has modules for both 768 (SD1) and 1024 (SD2) contexts")
    if inferred and layer_structure and list(layer_structure) != list(inferred):
        warnings.append(
            f"layer_structure value {layer_structure} does not match the tensors ({inferred})"
        )
    return result(
        Kind.HYPERNETWORK, base, details=details, warnings=warnings, candidates=candidates
    )


def _number_list(value: Any) -> list[int | float] | None:
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return [int(v) if float(v).is_integer() else float(v) for v in value]
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
