"""Recipes for tiny, realistic sample model files of every kind and base.

Each :class:`Sample` names its tensors as real files do, with real shapes
where shapes decide the kind and base, and only a few small tensors beside
them. The same recipe yields the :class:`~.tensor_index.TensorIndex` a reader
would produce (:func:`sample_index`, for fast tests) and a real file in any of
its containers (:func:`write_sample`, through :mod:`.writers`, no torch
needed). ``sdhub demo``, the catalog tests and the TUI all draw on
:data:`SAMPLES`.

Recipe names are stable (other code refers to them) and say what they hold:
``ckpt-<base>[-variant]`` checkpoints; ``unet-*``, ``flux-*-transformer``,
``sd3*-transformer`` bare diffusion models; ``vae-*``; ``lora-<format>-<base>``
plus ``locon-``/``loha-``/``lokr-``/``ia3-``/``oft-``/``boft-``/``glora-``/
``full-``/``dora-``/``dylora-`` LyCORIS kinds; ``embedding-*``;
``hypernetwork-*``; ``controlnet-*``, ``t2i-adapter-*``, ``ip-adapter-*``,
``upscaler-*``, ``text-encoder-*``, ``vae-approx-*``, ``motion-module-*``;
``other-unknown``. A few recipes carry labels that lie
(``lora-sd1-metadata-says-sdxl``, ``lora-flux-named-sd15``,
``lora-named-hypernetwork``) and list the warning the classifier must give.

    for sample in samples(Kind.LORA, max_bytes=300_000):
        write_sample(sample, folder / sample.filename_for(sample.format), seed=i)
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._sample_types import Nest, Sample, TensorSpec
from .kinds import Base, Component, FileFormat, Kind
from .tensor_index import TensorIndex, TensorInfo
from .writers import (
    ParameterDict,
    TensorData,
    write_safetensors,
    write_torch_legacy,
    write_torch_zip,
)

__all__ = [
    "SAMPLES",
    "Nest",
    "Sample",
    "TensorSpec",
    "sample_index",
    "samples",
    "torch_object",
    "write_sample",
]


def samples(
    kind: Kind | None = None,
    base: Base | None = None,
    component: Component | None = None,
    *,
    max_bytes: int | None = None,
) -> list[Sample]:
    """Recipes filtered by kind, base, component and tensor-data size."""
    return [
        s
        for s in SAMPLES.values()
        if (kind is None or s.kind is kind)
        and (base is None or s.base is base)
        and (component is None or s.component is component)
        and (max_bytes is None or s.nbytes <= max_bytes)
    ]


def sample_index(sample: Sample, fmt: FileFormat | None = None) -> TensorIndex:
    """The index a reader produces for ``sample`` written as ``fmt``.

    safetensors keeps the metadata and drops the pickle-only values; torch
    files drop the metadata, add ``torch_prefix`` and keep ``values`` under
    their dotted names.
    """
    fmt = fmt or sample.format
    if fmt is FileFormat.SAFETENSORS:
        tensors = {n: TensorInfo(n, s.shape, s.dtype) for n, s in sample.tensors.items()}
        return TensorIndex(format=fmt, tensors=tensors, metadata=dict(sample.metadata))
    prefix = sample.torch_prefix
    tensors = {
        prefix + n: TensorInfo(prefix + n, s.shape, s.dtype) for n, s in sample.tensors.items()
    }
    tensors.update({n: TensorInfo(n, s.shape, s.dtype) for n, s in sample.torch_only.items()})
    return TensorIndex(format=fmt, tensors=tensors, values=dict(sample.values))


def write_sample(
    sample: Sample, path: Path, fmt: FileFormat | None = None, *, seed: int | None = 0
) -> Path:
    """Write ``sample`` as a real file at ``path`` (container ``fmt``, default its natural one).

    ``seed`` picks the pseudo-random tensor values (small, finite), so copies
    written with different seeds have different hashes; ``None`` writes zeros.
    Returns ``path``.
    """
    fmt = fmt or sample.format
    path = Path(path)
    if fmt is FileFormat.SAFETENSORS:
        tensors = {n: _data(sample, n, spec, seed) for n, spec in sample.tensors.items()}
        write_safetensors(path, tensors, dict(sample.metadata) or None)
    elif fmt is FileFormat.TORCH_ZIP:
        write_torch_zip(path, torch_object(sample, seed=seed))
    elif fmt is FileFormat.TORCH_LEGACY:
        write_torch_legacy(path, torch_object(sample, seed=seed))
    else:
        raise ValueError(f"cannot write a sample as {fmt.value}")
    return path


def torch_object(sample: Sample, *, seed: int | None = 0) -> Any:
    """The nested object a torch file of ``sample`` pickles (writers' leaf types)."""
    entries: dict[str, Any] = {}
    for name, spec in sample.tensors.items():
        entries[sample.torch_prefix + name] = _data(sample, name, spec, seed)
    for name, spec in sample.torch_only.items():
        entries[name] = _data(sample, name, spec, seed)
    for name, value in sample.values.items():
        entries[name] = value
    return _nest(entries, tuple(sample.nesting), "", set(sample.parameter_dicts))


def _nest(entries: Mapping[str, Any], levels: tuple[Nest, ...], path: str, pdicts: set[str]) -> Any:
    if not levels:
        if path.rstrip(".") in pdicts:
            return ParameterDict(dict(entries))
        return dict(entries)
    groups: dict[str, dict[str, Any]] = {}
    children: dict[str, Any] = {}
    for name, item in entries.items():
        head, dot, rest = name.partition(".")
        if dot:
            groups.setdefault(head, {})[rest] = item
        else:
            children[head] = item
    for head, group in groups.items():
        children[head] = _nest(group, levels[1:], f"{path}{head}.", pdicts)
    level = levels[0]
    if level in (Nest.LIST, Nest.TUPLE):
        items = [children[str(i)] for i in range(len(children))]
        return items if level is Nest.LIST else tuple(items)
    if level is Nest.INT_DICT:
        return {int(k) if k.isdigit() else k: v for k, v in children.items()}
    if path.rstrip(".") in pdicts:
        return ParameterDict(children)
    return children


# --------------------------------------------------------------------------- tensor data

#: Byte positions (within one little-endian element) that carry sign and exponent,
#: and the mask/bits that pin the exponent to a small range: every value is finite
#: and of magnitude about 0.01, whatever the random bytes were.
_EXPONENT_BYTES: dict[str, tuple[int, int, int, int]] = {
    # dtype: (width, byte index, keep mask, set bits)
    "F16": (2, 1, 0x83, 0x20),
    "BF16": (2, 1, 0x80, 0x3C),
    "F32": (4, 3, 0x80, 0x3C),
    "F64": (8, 7, 0x80, 0x3F),
    "F8_E4M3": (1, 0, 0x87, 0x20),
    "F8_E5M2": (1, 0, 0x83, 0x20),
}
_PACK: dict[str, str] = {
    "F32": "f",
    "F64": "d",
    "I64": "q",
    "I32": "i",
    "I16": "h",
    "I8": "b",
    "U8": "B",
    "BOOL": "?",
    "F16": "e",
}


def _data(sample: Sample, name: str, spec: TensorSpec, seed: int | None) -> TensorData:
    return TensorData(
        shape=tuple(spec.shape), dtype=spec.dtype, data=_bytes(sample, name, spec, seed)
    )


def _bytes(sample: Sample, name: str, spec: TensorSpec, seed: int | None) -> bytes | None:
    if spec.fill is not None:
        return _constant(spec)
    if seed is None or spec.dtype not in _EXPONENT_BYTES:
        return None
    width, index, keep, bits = _EXPONENT_BYTES[spec.dtype]
    size = spec.numel * width
    if size == 0:
        return b""
    key = f"{sample.name}\0{name}\0{seed}".encode()
    raw = bytearray(hashlib.shake_256(key).digest(size))
    table = bytes(((b & keep) | bits) for b in range(256))
    raw[index::width] = raw[index::width].translate(table)
    if spec.dtype == "F64":
        raw[6::8] = raw[6::8].translate(bytes((b & 0x0F) | 0x80 for b in range(256)))
    return bytes(raw)


def _constant(spec: TensorSpec) -> bytes:
    value = float(spec.fill or 0.0)
    dtype = spec.dtype
    if dtype == "BF16":
        one = struct.pack("<f", value)[2:]
    elif dtype in ("F8_E4M3", "F8_E5M2"):
        one = b"\x00"  # only zero is ever needed as an fp8 constant
    elif dtype in _PACK:
        code = _PACK[dtype]
        item: Any = value if code in "efd" else int(value) if code != "?" else bool(value)
        one = struct.pack("<" + code, item)
    else:
        raise ValueError(f"no constant encoding for dtype {dtype}")
    return one * spec.numel


if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("sample writing assumes a little-endian host")


# --------------------------------------------------------------------------- the catalogue


def _catalogue() -> dict[str, Sample]:
    from ._samples_addons import addon_samples
    from ._samples_models import model_samples

    table: dict[str, Sample] = {}
    for sample in (*model_samples(), *addon_samples()):
        if sample.name in table:
            raise ValueError(f"two sample recipes are named {sample.name!r}")
        table[sample.name] = sample
    return table


#: Every recipe by name, e.g. ``SAMPLES["lora-kohya-sd1"]``.
SAMPLES: dict[str, Sample] = _catalogue()
