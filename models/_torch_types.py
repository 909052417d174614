"""torch's names for dtypes and storages, spelled the safetensors way.

One table serves both directions: the pickle reader maps ``torch.HalfStorage``
or ``torch.float16`` to ``F16``, and the writers map ``F16`` back to what
``torch.save`` would have written.
"""

from __future__ import annotations

#: safetensors dtype → (torch dtype attribute, legacy typed-storage class or None).
#: ``None`` means torch pickles that dtype with ``_rebuild_tensor_v3`` and an
#: ``UntypedStorage`` (the "new" dtypes of ``torch.storage._new_dtypes``).
TORCH_DTYPES: dict[str, tuple[str, str | None]] = {
    "F64": ("float64", "DoubleStorage"),
    "F32": ("float32", "FloatStorage"),
    "F16": ("float16", "HalfStorage"),
    "BF16": ("bfloat16", "BFloat16Storage"),
    "I64": ("int64", "LongStorage"),
    "I32": ("int32", "IntStorage"),
    "I16": ("int16", "ShortStorage"),
    "I8": ("int8", "CharStorage"),
    "U8": ("uint8", "ByteStorage"),
    "BOOL": ("bool", "BoolStorage"),
    "C64": ("complex64", "ComplexFloatStorage"),
    "F8_E4M3": ("float8_e4m3fn", None),
    "F8_E5M2": ("float8_e5m2", None),
    "U16": ("uint16", None),
    "U32": ("uint32", None),
    "U64": ("uint64", None),
}

#: ``torch.<Name>Storage`` class name → safetensors dtype (also ``torch.cuda.*``).
STORAGE_DTYPES: dict[str, str] = {
    storage: dtype for dtype, (_, storage) in TORCH_DTYPES.items() if storage is not None
} | {
    "ComplexDoubleStorage": "C128",
    "QInt8Storage": "QI8",
    "QUInt8Storage": "QU8",
    "QInt32Storage": "QI32",
    "QUInt4x2Storage": "QU4X2",
    "QUInt2x4Storage": "QU2X4",
}

#: ``torch.<dtype>`` attribute → safetensors dtype, aliases included.
TORCH_DTYPE_NAMES: dict[str, str] = {name: dtype for dtype, (name, _) in TORCH_DTYPES.items()} | {
    "double": "F64",
    "float": "F32",
    "half": "F16",
    "long": "I64",
    "int": "I32",
    "short": "I16",
    "complex128": "C128",
    "cdouble": "C128",
    "cfloat": "C64",
    "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "float8_e8m0fnu": "F8_E8M0",
    "float4_e2m1fn_x2": "F4",
}

#: Element width of the dtypes above that ``tensor_index.DTYPE_WIDTHS`` lacks.
EXTRA_WIDTHS: dict[str, int] = {
    "C128": 16,
    "QI8": 1,
    "QU8": 1,
    "QI32": 4,
    "F8_E4M3FNUZ": 1,
    "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1,
}

#: ``torch.save``'s legacy (pre-zip) magic number and protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
