"""Decide kind, base, component and details of a model file from its tensor index.

Shapes decide. Metadata (``ss_base_model_version``, ``modelspec.*``), the file
name and its extension are *hints*: they settle what shapes cannot tell (the
base of a VAE, v-prediction), and where they contradict the shapes the result
carries a warning such as ``"metadata says sd1 (ss_base_model_version=sd_v1)
but shapes are flux"``. :func:`classify` never raises: an index nothing here
recognises is ``other``/``unknown`` with a warning, and an index without a
single tensor is ``invalid`` with the error ``"no tensors"``.

Warnings (one line each, stable wording):
``"<metadata|name> says <base> … but shapes are <base>"`` and
``"… but shapes allow only <bases>"``; ``"metadata says <kind> (modelspec.architecture=…)
but shapes are <kind>"``; ``"name says <kind> but shapes are <kind>"`` (LoRA,
embedding, hypernetwork, VAE files only); ``"metadata says <algo> (ss_network_module=…)
but keys are <network>"``; ``"metadata says <base> … but its widths match no known
family"``; ``"named .ext but the file is <format>"``;
``"A1111 loads <kind> files only as …"``; prediction hints that disagree; and
the per-kind notes (unnamed cloneofsimo lists, a VAE without decoder, an SDXL
embedding with only CLIP-G, an embedding the WebUIs cannot load, text encoders
that do not fit the UNet, one shard of a sharded model, a file of optimizer
state only…). Training state saved beside the weights (``optimizer_states``,
A1111's ``optimizer_state_dict``) is set aside before the layout is judged.

``Classification.details`` (JSON-serialisable; keys are stable):

Every kind
    ``precision`` (``fp16|bf16|fp32|fp64|fp8|mixed`` or None; checkpoints also
    ``nf4|fp4``, bitsandbytes-quantized; GGUF files the dominant ggml quant type,
    ``Q8_0``, ``Q4_K``…), ``params`` (element count, training state excluded),
    ``base_from`` (``shapes|metadata|name`` or None when the base stays unknown),
    ``candidates`` (only while the base is unknown: the bases the shapes allow),
    ``hints`` (what labels inside the file claim, never trusted: ``output_name``,
    ``title``, ``author``, ``trigger_phrase``, ``usage_hint``, ``description``,
    ``training_comment``, ``sd_model_name``, ``base_model_version``,
    ``architecture``, ``resolution``, ``network_module``, ``network_args`` (dict),
    ``top_tags`` (most frequent tags of ``ss_tag_frequency``), ``dataset_dirs``
    (kohya ``<repeats>_<name>`` folder names, often the trigger word), and from
    pickles ``name``, ``step``, ``sd_checkpoint``, ``sd_checkpoint_name``,
    ``global_step``, ``epoch``; only keys that are present).

checkpoint, and ``other``/``diffusion-model``
    ``variant`` (``normal|inpainting|instruct-pix2pix|depth|upscaler|unclip|control|other``),
    ``in_channels``, ``layout`` (``ldm`` = under ``model.diffusion_model.``,
    ``original`` = the model's own names, ``diffusers``), ``text_encoders``
    (``clip-l``, ``clip-h``, ``clip-g``, ``t5xxl``, or ``<layout>-<width>`` for a
    width no family has), ``text_widths``, ``baked_vae``, ``vae_latent_channels``,
    ``vae_channels``, ``ema``, ``pruned``, ``prediction`` (``v|epsilon``
    or None: only from a ``v_pred`` key, metadata or the name), ``prediction_from``
    (``key|metadata|name``); UNets add ``context_dim``; SD3 adds ``hidden_size``
    and ``sd3_variant`` (``3-medium|3.5-medium|3.5-large``); Flux adds
    ``hidden_size`` and ``flux_variant`` (``dev|schnell|chroma``; Flux Fill is
    variant ``inpainting``, Canny/Depth variant ``control``); a Flux-like
    transformer of another width adds ``architecture`` and keeps base unknown.

lora
    ``network`` (``lora|locon|loha|lokr|ia3|oft|boft|glora|full|dora|dylora|norms``),
    ``format`` (``kohya|comfyui|diffusers|peft|xlabs|cloneofsimo|cloneofsimo-list``),
    ``rank`` (most common; LoCon-only files: the conv rank), ``rank_range``
    ([min, max], only when ranks differ), ``alpha`` and ``conv_alpha`` (from
    metadata; None when absent — alpha tensors' values are not read),
    ``conv_rank``, ``modules``, ``text_encoder`` (``none|te|te1|te2|te1+te2|te1+te3|…``),
    ``unet`` (patches the UNet/transformer), ``bundled_tokens``, ``dora``,
    ``context_dim`` (input width of the ``attn2`` key/value layers it patches, or
    None), ``text_widths`` (hidden widths of the text encoders it patches);
    OFT/BOFT add ``block_size``; ``architecture`` when the modules belong to no
    Stable Diffusion family (``"unknown model family"``) or a Flux-like one of
    another width.

embedding
    ``vectors``, ``width`` (first encoder's), ``widths``, ``tokens`` (the
    placeholder strings a file names; A1111: its ``name``), ``encoders``,
    ``format`` (``a1111|emb_params|diffusers|sdxl``: per-encoder keys such as
    ``clip_l``/``clip_g``/``t5xxl``), ``negative`` (a name/metadata hint only).

hypernetwork
    ``layer_structure``, ``activation``, ``layer_norm``, ``dropout``, ``widths``,
    ``weight_init``, ``legacy_layers`` (NAI-era ``linear1``/``linear2``),
    ``dropout_structure`` when stored.

vae
    ``latent_channels``, ``channels`` (first block width: 128 for every SD-family
    VAE), ``layout`` (``ldm|diffusers``), ``baked_in_checkpoint_prefix``
    (``first_stage_model.``/``vae.`` when the keys still carry it, else None),
    ``encoder``, ``decoder``, ``quant_conv``, ``training_state`` (``loss.*`` keys).

other
    ``component`` is set; controlnet: ``layout`` (``ldm|diffusers|diffusers-dit|
    control-lora|lllite|xlabs``), ``context_dim``; t2i-adapter: ``input_channels``,
    ``style``; ip-adapter: ``variant`` (``base|plus|full|faceid``), ``context_dim``;
    upscaler: ``architecture`` (``esrgan|esrgan-old|swinir|compact``), ``scale``;
    vae-approx: ``architecture`` (``taesd|a1111-vae-approx``), ``latent_channels``;
    text-encoder: ``encoder``, ``width``, ``layers``, ``layout`` (``hf|openclip|llama.cpp``);
    motion-module: ``mid_block``, ``max_frames``; unknown: ``tensors`` (count), ``sample_keys``.

Matching assets to a base by widths
    Structure decides the kind, widths only the base: a file whose widths no
    family has (the render engine's tiny test models) keeps its kind, gets base
    ``unknown`` without candidates, and carries the widths to match it to a
    checkpoint of the same architecture (:data:`WIDTH_DETAILS`):

    - checkpoint/UNet ``context_dim`` = LoRA ``context_dim`` (when the LoRA patches
      ``attn2``); checkpoint ``text_widths`` = LoRA ``text_widths``;
    - embedding ``widths`` ⊆ checkpoint ``text_widths`` (``width`` is the first);
    - hypernetwork ``widths`` ∋ checkpoint ``context_dim`` (A1111 picks that pair);
    - VAE ``channels``/``latent_channels`` = checkpoint ``vae_channels``/
      ``vae_latent_channels``.
"""

from __future__ import annotations

from collections.abc import Callable

from ._classify_ckpt import classify_checkpoint
from ._classify_common import (
    Hint,
    View,
    extension_of,
    family,
    hints_digest,
    make_view,
    metadata_base_hints,
    metadata_kind_hint,
    name_base_hint,
    name_kind_hint,
    negative_hint,
    parameters,
    precision,
    prediction_hints,
    stem_of,
    value_base_hints,
)
from ._classify_lora import classify_lora
from ._classify_other import (
    classify_controlnet,
    classify_ip_adapter,
    classify_motion_module,
    classify_t2i_adapter,
    classify_text_encoder,
    classify_upscaler,
    classify_vae,
    classify_vae_approx,
)
from ._classify_small import classify_embedding, classify_hypernetwork
from ._lazy_re import LazyPattern
from .kinds import Base, Component, FileFormat, Kind
from .report import Classification
from .tensor_index import TensorIndex

__all__ = ["classify"]

#: Detectors in the order they are asked; the first that recognises the index wins.
#: Components that embed UNet- or LoRA-like keys (ControlNets, IP-Adapter FaceID)
#: come before the LoRA and checkpoint detectors.
_DETECTORS: tuple[Callable[[View], Classification | None], ...] = (
    classify_controlnet,
    classify_ip_adapter,
    classify_lora,
    classify_hypernetwork,
    classify_t2i_adapter,
    classify_motion_module,
    classify_checkpoint,
    classify_vae,
    classify_vae_approx,
    classify_upscaler,
    classify_text_encoder,
)

#: Extensions each container is written with; another one is a mislabelled file.
_CONTAINER_EXTENSIONS: dict[FileFormat, frozenset[str]] = {
    FileFormat.SAFETENSORS: frozenset({".safetensors", ".sft"}),
    FileFormat.TORCH_ZIP: frozenset({".ckpt", ".pt", ".pth", ".bin"}),
    FileFormat.TORCH_LEGACY: frozenset({".ckpt", ".pt", ".pth", ".bin"}),
    FileFormat.GGUF: frozenset({".gguf"}),
}
#: The extensions A1111 loads each kind from (ComfyUI loads any).
_A1111_EXTENSIONS: dict[Kind, frozenset[str]] = {
    Kind.CHECKPOINT: frozenset({".safetensors", ".ckpt"}),
    Kind.LORA: frozenset({".safetensors", ".ckpt", ".pt"}),
    Kind.EMBEDDING: frozenset({".pt", ".safetensors", ".bin"}),
    Kind.HYPERNETWORK: frozenset({".pt"}),
    Kind.VAE: frozenset({".pt", ".ckpt", ".safetensors"}),
}


def classify(index: TensorIndex, *, filename: str | None = None) -> Classification:
    """Kind, base family, component, details and warnings of a file's index.

    Shapes decide; metadata (``ss_base_model_version``, ``modelspec.*``) and the
    file name (a bare name or a path) are hints, and a disagreement becomes a
    warning. Never raises.
    """
    try:
        return _classify(index, filename)
    except Exception as exc:  # a classifier bug must not lose the file's report
        return Classification(
            kind=Kind.OTHER,
            component=Component.UNKNOWN,
            details={"tensors": len(index.tensors)},
            warnings=[f"classification failed ({type(exc).__name__}: {exc}); treated as other"],
        )


def _classify(index: TensorIndex, filename: str | None) -> Classification:
    if not index.tensors:
        return Classification(kind=Kind.INVALID, error="no tensors")
    view = make_view(index)
    if not view.tensors:
        return Classification(
            kind=Kind.OTHER,
            component=Component.UNKNOWN,
            details={"tensors": len(index.tensors), "sample_keys": sorted(index.tensors)[:5]},
            warnings=["only training state (optimizer moments), no model weights"],
        )
    stem = stem_of(filename)
    found = classify_embedding(view, stem)
    if found is None:
        for detector in _DETECTORS:
            found = detector(view)
            if found is not None:
                break
    if found is None:
        found = _unknown(view, stem)
    _apply_hints(found, view, index, filename)
    return found


#: ``model-00002-of-00003``: one file of a model saved in shards (transformers, diffusers).
_SHARD = LazyPattern(r"-(\d{5})-of-(\d{5})(?:\.\w+)?$")


def _unknown(view: View, stem: str) -> Classification:
    names = sorted(view.tensors)
    details = {
        "tensors": len(names),
        "sample_keys": names[:5],
        "precision": precision(view.tensors.values()),
        "params": parameters(view.tensors.values()),
    }
    if names and all(n.isdigit() for n in names):
        warning = f"a bare list of {len(names)} unnamed tensors: no known model layout"
    else:
        warning = f"no known model layout among {len(names)} tensors (e.g. {names[0]!r})"
    warnings = [warning]
    shard = _SHARD.search(stem)
    if shard:
        warnings.append(
            f"shard {int(shard[1])} of {int(shard[2])} of a sharded model:"
            " the other shards hold the rest of its tensors"
        )
    return Classification(
        kind=Kind.OTHER, component=Component.UNKNOWN, details=details, warnings=warnings
    )


def _apply_hints(
    found: Classification, view: View, index: TensorIndex, filename: str | None
) -> None:
    details = found.details
    warnings = found.warnings
    base_hints = metadata_base_hints(view.metadata) + value_base_hints(view.values)
    name_hint = name_base_hint(filename)
    candidates = [Base(c) for c in details.get("candidates", [])]

    if found.base is not Base.UNKNOWN:
        details["base_from"] = "shapes"
        for hint in base_hints:
            if family(Base(hint.value)) != family(found.base):
                warnings.append(f"{hint.says()} but shapes are {found.base.value}")
                break
        if name_hint and family(Base(name_hint.value)) != family(found.base):
            warnings.append(f"{name_hint.says()} but shapes are {found.base.value}")
    else:
        details["base_from"] = None
        for hint in [*base_hints, *([name_hint] if name_hint else [])]:
            hinted = Base(hint.value)
            if hinted in candidates:
                found.base = hinted
                details["base_from"] = hint.source
                details.pop("candidates", None)
                break
            if candidates:
                allowed = ", ".join(c.value for c in candidates)
                warnings.append(f"{hint.says()} but shapes allow only {allowed}")
                break
        # Only the file's own metadata: pickled values name a checkpoint (sd_checkpoint_name),
        # which says nothing about the widths.
        claims = metadata_base_hints(view.metadata)
        if not candidates and claims and _widths_of_no_family(found):
            warnings.append(f"{claims[0].says()} but its widths match no known family")

    if found.kind in (Kind.CHECKPOINT, Kind.OTHER) and (
        found.kind is Kind.CHECKPOINT or found.component is Component.DIFFUSION_MODEL
    ):
        _prediction(found, view, filename)
    if found.kind is Kind.EMBEDDING:
        texts = [
            stem_of(filename),
            view.metadata.get("modelspec.title"),
            view.metadata.get("ss_output_name"),
        ]
        name_value = view.values.get("name")
        texts.append(name_value if isinstance(name_value, str) else None)
        details["negative"] = negative_hint(*texts)

    _kind_hints(found, view, filename)
    _extension_hints(found, index.format, filename)
    details["hints"] = hints_digest(view)


#: Detail keys that carry the widths assets are matched to a base by (see the module
#: doc); a base-like kind that set them and still says ``unknown`` found widths no family has.
WIDTH_DETAILS = ("context_dim", "text_widths", "width", "widths", "channels")
_WIDTH_KINDS = frozenset({Kind.CHECKPOINT, Kind.LORA, Kind.EMBEDDING, Kind.HYPERNETWORK, Kind.VAE})


def _widths_of_no_family(found: Classification) -> bool:
    return found.kind in _WIDTH_KINDS and any(found.details.get(k) for k in WIDTH_DETAILS)


def _prediction(found: Classification, view: View, filename: str | None) -> None:
    details = found.details
    details.setdefault("prediction", None)
    details.setdefault("prediction_from", None)
    if found.base in (Base.SD3, Base.FLUX):
        return  # flow-matching models: the question does not arise
    hints = prediction_hints(view, filename)
    if not hints:
        return
    first: Hint = hints[0]
    details["prediction"] = first.value
    details["prediction_from"] = first.source
    for other in hints[1:]:
        if other.value != first.value:
            found.warnings.append(
                f"{other.says()} prediction but {first.source} says {first.value}"
            )
            break


def _kind_hints(found: Classification, view: View, filename: str | None) -> None:
    meta_hint = metadata_kind_hint(view.metadata)
    # A bare modelspec architecture ("stable-diffusion-v1") on a VAE or bare UNet is common.
    bare_arch_on_part = meta_hint is not None and (
        meta_hint.value == Kind.CHECKPOINT.value and found.kind in (Kind.VAE, Kind.OTHER)
    )
    if meta_hint is not None and meta_hint.value != found.kind.value and not bare_arch_on_part:
        found.warnings.append(f"{meta_hint.says()} but shapes are {found.kind.value}")
    name_hint = name_kind_hint(filename)
    if (
        name_hint is not None
        and name_hint.value != found.kind.value
        and found.kind not in (Kind.CHECKPOINT, Kind.OTHER)
    ):
        found.warnings.append(f"{name_hint.says()} but shapes are {found.kind.value}")


def _extension_hints(found: Classification, fmt: FileFormat, filename: str | None) -> None:
    ext = extension_of(filename)
    if not ext:
        return
    expected = _CONTAINER_EXTENSIONS.get(fmt)
    if expected is not None and ext not in expected:
        found.warnings.append(f"named {ext} but the file is {fmt.value}")
    loadable = _A1111_EXTENSIONS.get(found.kind)
    if loadable is not None and ext not in loadable:
        allowed = "/".join(sorted(loadable))
        found.warnings.append(f"A1111 loads {found.kind.value} files only as {allowed}")
