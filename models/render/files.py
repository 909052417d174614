"""Reading model files for a render: the safety gate and tensor loading.

Every pickle-based file (``.ckpt``, ``.pt``, ``.bin``) is scanned by
:func:`sdhub.models.pickle_scan.scan_pickles` right before loading, whatever
the caller knows, and then read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kinds import FileFormat, Verdict
from ..pickle_scan import REFERENCE_ONLY_GLOBALS, scan_pickles
from ..sniff import sniff_format
from .api import RenderError, RenderVerdict

if TYPE_CHECKING:
    import torch

PICKLE_FORMATS = frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY})


def checked_format(path: Path) -> FileFormat:
    """The file's container, after the pickle scan said a pickle is safe.

    Raises :class:`RenderError` (verdict ``error``) for a missing, unreadable,
    unknown or unsafe file.
    """
    try:
        fmt = sniff_format(path)
    except OSError as exc:
        raise RenderError(
            RenderVerdict.ERROR, f"cannot read {path.name}: {exc.strerror or exc}"
        ) from None
    if fmt is FileFormat.UNKNOWN:
        raise RenderError(
            RenderVerdict.ERROR, f"{path.name} is neither safetensors nor a torch file"
        )
    if fmt is FileFormat.GGUF:
        raise RenderError(
            RenderVerdict.ERROR,
            f"{path.name} is a GGUF file: sdhub renders safetensors and torch files only",
        )
    if fmt in PICKLE_FORMATS:
        safety = scan_pickles(path, fmt)
        if safety.verdict is not Verdict.SAFE:
            why = f" ({safety.reason})" if safety.reason else ""
            raise RenderError(
                RenderVerdict.ERROR,
                f"refused to load {path.name}: the pickle scan says {safety.verdict.value}{why}",
            )
    return fmt


def allowed_globals() -> list[Any]:
    """Data-only classes the weights-only unpickler must also accept for real SD files.

    ``torch.nn.ParameterDict``: some A1111 embeddings pickle ``string_to_param``
    as one (its state is plain tensors and dicts). numpy scalars, arrays and
    dtypes: old Lightning ``.ckpt`` files keep e.g. ``best_model_score`` as one,
    training files loss histories. None of them runs code when rebuilt; the
    pickle scan has already passed.
    """
    import numpy as np
    import torch

    allowed: list[Any] = [torch.nn.ParameterDict, np.dtype, np.ndarray]
    multiarray = np._core.multiarray  # type: ignore[attr-defined]
    for name in ("scalar", "_reconstruct"):  # numpy scalars and arrays (A1111 allows both)
        function = getattr(multiarray, name)
        allowed += [function, (function, f"numpy.core.multiarray.{name}")]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    # SD 1.x Lightning checkpoints key ``callbacks`` by the ModelCheckpoint class; the
    # scanner passes it only as such a reference, so an empty stand-in serves (as ComfyUI does).
    allowed += [(_LightningReference, name) for name in REFERENCE_ONLY_GLOBALS]
    return allowed


class _LightningReference:
    """Stands in for ``pytorch_lightning`` classes old checkpoints only refer to."""


def _torch_load(path: Path, fmt: FileFormat, map_location: str) -> Any:
    import torch

    with torch.serialization.safe_globals(allowed_globals()):
        return torch.load(
            path,
            map_location=map_location,
            weights_only=True,
            mmap=fmt is FileFormat.TORCH_ZIP,
        )


def load_object(path: Path, fmt: FileFormat | None = None, *, meta: bool = False) -> Any:
    """The whole object a file holds: a tensor dict (safetensors) or the unpickled data.

    ``meta=True`` gives shapes and dtypes only (tensors on the meta device).
    Raises :class:`RenderError` (``error``) for a truncated or corrupt file.
    """
    fmt = fmt or checked_format(path)
    try:
        if fmt is FileFormat.SAFETENSORS:
            return _safetensors(path, meta)
        return _torch_load(path, fmt, "meta" if meta else "cpu")
    except RenderError:
        raise
    except Exception as exc:  # corrupt files fail in many ways; all mean the same to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(RenderVerdict.ERROR, f"cannot read {path.name}: {reason[:200]}") from None


def _safetensors(path: Path, meta: bool) -> dict[str, torch.Tensor]:
    import torch
    from safetensors import safe_open

    dtypes = _dtypes()
    out: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
            if meta:
                piece = fh.get_slice(key)
                dtype = dtypes.get(piece.get_dtype(), torch.float32)
                out[key] = torch.empty(piece.get_shape(), dtype=dtype, device="meta")
            else:
                out[key] = fh.get_tensor(key)
    if not meta:
        _check_complete(path)
    return out


def _check_complete(path: Path) -> None:
    """safetensors reads lazily from a mapping; a truncated file must still fail loudly."""
    import json
    import struct

    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        size = fh.seek(0, 2)
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise RenderError(
            RenderVerdict.ERROR, f"{path.name} is truncated ({size} of {8 + n + end} bytes)"
        )


def tensor_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The flat name → tensor mapping of a checkpoint-like object (``state_dict`` unwrapped)."""
    import torch

    while isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise RenderError(RenderVerdict.ERROR, f"{path.name} holds no tensor dictionary")
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _dtypes() -> dict[str, Any]:
    import torch

    return {
        "F64": torch.float64,
        "F32": torch.float32,
        "F16": torch.float16,
        "BF16": torch.bfloat16,
        "I64": torch.int64,
        "I32": torch.int32,
        "I16": torch.int16,
        "I8": torch.int8,
        "U8": torch.uint8,
        "BOOL": torch.bool,
    }
