"""Loading a base checkpoint (and a VAE) from a single file, offline.

Config choice, in order: the caller's ``RenderBase.config``; the
checkpoint's own ``<stem>.diffusers/`` sidecar (written by :mod:`.tiny`, or
by a user for an odd-sized model); the config shipped for its family
(``configs/sd1``, ``sd2``, ``sdxl``). A hub download never happens:
``from_single_file`` always gets ``config=`` and ``local_files_only=True``.

Before loading, the checkpoint's keys and shapes are converted on the meta
device with diffusers' own converters and compared with the models the
config describes, so a missing tensor is reported by name instead of as
"Cannot copy out of meta tensor".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kinds import Base, FileFormat
from .api import RENDERABLE_BASES, RenderBase, RenderError, RenderVerdict
from .files import allowed_globals, checked_format, load_object, tensor_dict
from .tiny import sidecar_config_dir
from .tokenizers import tokenizer_from_folder

if TYPE_CHECKING:
    import torch

_SUFFIX_FOR_FORMAT = {FileFormat.SAFETENSORS: {".safetensors"}}


@dataclass(slots=True)
class LoadedBase:
    """A pipeline ready to render, with what it was loaded from."""

    base: RenderBase
    family: Base
    pipe: Any
    config_dir: Path
    device: str
    dtype: Any
    seconds: float
    #: The checkpoint's own VAE (assets may swap ``pipe.vae`` for a while).
    own_vae: Any


def shipped_config_dir(family: Base) -> Path:
    """The diffusers config folder sdhub ships for a family."""
    ref = resources.files("sdhub.models.render") / "configs" / family.value
    return Path(str(ref))


def family_from_keys(keys: set[str] | list[str]) -> Base:
    """The family of an LDM single-file checkpoint, from its text-encoder/UNet keys."""

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("conditioner.embedders.1.model."):
        return Base.SDXL
    if has("conditioner.embedders.0.model."):
        return Base.SDXL_REFINER
    if has("cond_stage_model.model."):
        return Base.SD2
    if has("cond_stage_model.transformer."):
        return Base.SD1
    if has("model.diffusion_model.joint_blocks.") or has("joint_blocks."):
        return Base.SD3
    if has("double_blocks.") or has("model.diffusion_model.double_blocks."):
        return Base.FLUX
    return Base.UNKNOWN


def config_dir_for(base: RenderBase, family: Base) -> Path:
    """Which diffusers config folder a checkpoint loads with (see the module docstring)."""
    if base.config is not None:
        if not (base.config / "model_index.json").is_file():
            raise RenderError(
                RenderVerdict.ERROR,
                f"{base.config} is not a diffusers config folder (no model_index.json)",
            )
        return base.config
    sidecar = sidecar_config_dir(base.path)
    if (sidecar / "model_index.json").is_file():
        return sidecar
    if family not in RENDERABLE_BASES:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"cannot render {family.label} checkpoints (supported: SD1, SD2, SDXL)",
        )
    return shipped_config_dir(family)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# --- key check -------------------------------------------------------------------


def _expected(model: Any) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _compare(
    component: str, expected: dict[str, tuple[int, ...]], got: dict[str, Any]
) -> list[str]:
    missing = sorted(k for k in expected if k not in got)
    wrong = sorted(k for k in expected if k in got and tuple(got[k].shape) != expected[k])
    problems = []
    if missing:
        problems.append(
            f"{component}: {len(missing)} tensor(s) missing, e.g. {', '.join(missing[:3])}"
        )
    if wrong:
        k = wrong[0]
        problems.append(
            f"{component}: {len(wrong)} tensor(s) of another shape, e.g. {k} "
            f"{list(got[k].shape)} where the config needs {list(expected[k])}"
        )
    return problems


def _convert(component: str, fn: Any, *args: Any) -> tuple[dict[str, Any], list[str]]:
    try:
        return fn(*args), []
    except KeyError as exc:
        return {}, [f"{component}: tensor {exc.args[0]!r} missing"]
    except Exception as exc:  # a converter tripping over odd shapes
        return {}, [f"{component}: cannot convert ({type(exc).__name__}: {exc})"]


def check_checkpoint(meta: dict[str, Any], family: Base, config_dir: Path) -> list[str]:
    """What would stop ``from_single_file``: missing tensors, wrong shapes (one line each)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu

    problems: list[str] = []
    unet_cfg = _read_json(config_dir / "unet" / "config.json")
    vae_cfg = _read_json(config_dir / "vae" / "config.json")
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_cfg)
        vae = AutoencoderKL.from_config(vae_cfg)
    if not any(k.startswith(sfu.LDM_UNET_KEY) for k in meta):
        return ["UNet: no model.diffusion_model.* tensors (not an SD checkpoint?)"]
    got, errs = _convert("UNet", sfu.convert_ldm_unet_checkpoint, meta, dict(unet.config))
    problems += errs or _compare("UNet", _expected(unet), got)
    if not any(k.startswith(tuple(sfu.LDM_VAE_KEYS)) for k in meta):
        problems.append("VAE: no first_stage_model.* tensors (checkpoint without a baked VAE)")
    else:
        got, errs = _convert("VAE", sfu.convert_ldm_vae_checkpoint, meta, dict(vae.config))
        problems += errs or _compare("VAE", _expected(vae), got)
    problems += _check_text_encoders(meta, family, config_dir)
    return problems


def _check_text_encoders(meta: dict[str, Any], family: Base, config_dir: Path) -> list[str]:
    import torch
    from diffusers.loaders import single_file_utils as sfu
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    plan: list[tuple[str, Any, str | None]] = []  # (subfolder, class, open-clip prefix)
    if family is Base.SD2:
        plan.append(("text_encoder", CLIPTextModel, "cond_stage_model.model."))
    elif family is Base.SDXL:
        plan.append(("text_encoder", CLIPTextModel, None))
        plan.append(
            ("text_encoder_2", CLIPTextModelWithProjection, "conditioner.embedders.1.model.")
        )
    else:
        plan.append(("text_encoder", CLIPTextModel, None))
    problems: list[str] = []
    for sub, cls, prefix in plan:
        cfg = CLIPTextConfig.from_pretrained(str(config_dir / sub), local_files_only=True)
        with torch.device("meta"):
            model = cls(cfg)
        if prefix is None:
            got, errs = _convert(sub, sfu.convert_ldm_clip_checkpoint, meta)
        else:
            got, errs = _convert(sub, sfu.convert_open_clip_checkpoint, model, meta, prefix)
        if not hasattr(model, "text_model"):
            got = {k.removeprefix("text_model."): v for k, v in got.items()}
        problems += errs or _compare(sub.replace("_", " "), _expected(model), got)
    return problems


# --- loading -----------------------------------------------------------------------


def resolve_device(device: str) -> tuple[str, Any]:
    """``auto`` → CUDA in fp16 when there is one, else CPU in fp32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RenderError(
            RenderVerdict.ERROR, "--device cuda asked for, but torch sees no CUDA device"
        )
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    return device, dtype


def _suffix_matches(path: Path, fmt: FileFormat) -> None:
    # from_single_file picks its reader by suffix: a safetensors file named
    # .ckpt (or the reverse) would be misread, so say it plainly.
    is_st = path.suffix.lower() == ".safetensors"
    if (fmt is FileFormat.SAFETENSORS) != is_st:
        what = "safetensors" if fmt is FileFormat.SAFETENSORS else "a torch pickle"
        raise RenderError(
            RenderVerdict.ERROR,
            f"{path.name} is {what} but named {path.suffix}: rename it to load it",
        )


def load_base(base: RenderBase, device: str, dtype: torch.dtype) -> LoadedBase:
    """Load a checkpoint into a pipeline on ``device`` (see the module docstring)."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    start = time.perf_counter()
    fmt = checked_format(base.path)
    _suffix_matches(base.path, fmt)
    meta = tensor_dict(load_object(base.path, fmt, meta=True), base.path)
    family = family_from_keys(list(meta))
    if family is Base.UNKNOWN:
        raise RenderError(
            RenderVerdict.ERROR, f"{base.path.name} is not an SD1/SD2/SDXL single-file checkpoint"
        )
    if base.family not in (Base.UNKNOWN, family):
        raise RenderError(
            RenderVerdict.ERROR,
            f"{base.path.name} has {family.label} keys but was recorded as {base.family.label}",
        )
    if family not in RENDERABLE_BASES:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"cannot render {family.label} checkpoints (supported: SD1, SD2, SDXL)",
        )
    conv_in = meta.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is not None and conv_in.shape[1] != 4:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"{base.path.name} takes {conv_in.shape[1]} input channels "
            "(inpainting/instruct model): text-to-image grids need a normal checkpoint",
        )
    config_dir = config_dir_for(base, family)
    problems = check_checkpoint(meta, family, config_dir)
    if problems:
        hint = ""
        if config_dir.parent == shipped_config_dir(family).parent:
            sidecar = sidecar_config_dir(base.path).name
            hint = f" (odd-sized model? put its diffusers config folder at {sidecar}/)"
        raise RenderError(
            RenderVerdict.ERROR, f"{base.path.name} cannot load: " + "; ".join(problems) + hint
        )
    del meta

    cls = StableDiffusionXLPipeline if family is Base.SDXL else StableDiffusionPipeline
    kwargs: dict[str, Any] = {
        "config": str(config_dir),
        "local_files_only": True,
        "torch_dtype": dtype,
    }
    for sub in ("tokenizer", "tokenizer_2"):
        if (config_dir / sub).is_dir():
            kwargs[sub] = tokenizer_from_folder(config_dir / sub)
    if cls is StableDiffusionPipeline:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        # diffusers reads a .ckpt with torch.load(weights_only=True) itself: let
        # it accept the same data-only globals our own reads do.
        with torch.serialization.safe_globals(allowed_globals()):
            pipe = cls.from_single_file(str(base.path), **kwargs)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(
            RenderVerdict.ERROR, f"{base.path.name} cannot load: {first[:300]}"
        ) from None
    pipe.to(device)
    if dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False):
        pipe.vae.to(torch.float32)  # SDXL's VAE overflows in fp16 (A1111's --no-half-vae)
    pipe.set_progress_bar_config(disable=True)
    if family is Base.SD2 and config_dir == shipped_config_dir(family):
        _set_sd2_prediction(pipe)
    return LoadedBase(
        base=base,
        family=family,
        pipe=pipe,
        config_dir=config_dir,
        device=device,
        dtype=dtype,
        seconds=time.perf_counter() - start,
        own_vae=pipe.vae,
    )


def _set_sd2_prediction(pipe: Any) -> None:
    """SD2 768 models predict v, SD2 512-base ones noise; keys cannot tell, one UNet call can.

    A1111's test (``is_using_v_parameterization_for_sd2``): feed a constant
    latent at t=999; a v-model's output sits far below the input.
    """
    import torch

    unet = pipe.unet
    with torch.no_grad():
        x = torch.full((1, 4, 8, 8), 0.5, device=unet.device, dtype=unet.dtype)
        cond = torch.full(
            (1, 2, unet.config.cross_attention_dim), 0.5, device=unet.device, dtype=unet.dtype
        )
        t = torch.tensor([999], device=unet.device)
        out = (unet(x, t, encoder_hidden_states=cond).sample - x).float().mean().item()
    prediction = "v_prediction" if out < -1 else "epsilon"
    pipe.scheduler = pipe.scheduler.__class__.from_config(
        pipe.scheduler.config, prediction_type=prediction
    )


def load_vae(path: Path, loaded: LoadedBase) -> Any:
    """A VAE single file, checked against the base's VAE config, on the base's device."""
    import torch
    from diffusers import AutoencoderKL
    from diffusers.loaders import single_file_utils as sfu

    fmt = checked_format(path)
    _suffix_matches(path, fmt)
    meta = tensor_dict(load_object(path, fmt, meta=True), path)
    vae_cfg = _read_json(loaded.config_dir / "vae" / "config.json")
    with torch.device("meta"):
        model = AutoencoderKL.from_config(vae_cfg)
    got, errs = _convert("VAE", sfu.convert_ldm_vae_checkpoint, meta, dict(model.config))
    problems = errs or _compare("VAE", _expected(model), got)
    if problems:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"{path.name} does not fit the {loaded.family.label} VAE: " + "; ".join(problems),
        )
    dtype = loaded.own_vae.dtype
    try:
        vae = AutoencoderKL.from_single_file(
            str(path),
            config=str(loaded.config_dir),
            subfolder="vae",
            local_files_only=True,
            torch_dtype=dtype,
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(RenderVerdict.ERROR, f"{path.name} cannot load: {first[:300]}") from None
    return vae.to(loaded.device, dtype=dtype).eval()
