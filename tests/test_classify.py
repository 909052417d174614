"""Classification of model files: kind, base, component, details and warnings.

Every recipe of :mod:`sdhub.models.samples` is classified three ways: from the
index a reader would produce (fast), from a real file written by sdhub's
writers and read back by sdhub's readers, and (a chosen set) from files that
torch and safetensors wrote themselves. Labels that lie, odd indexes and
real library architectures come after.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from sdhub.models.classify import classify
from sdhub.models.kinds import Base, Component, FileFormat, Kind
from sdhub.models.pickle_index import read_pickle_index
from sdhub.models.report import Classification
from sdhub.models.safetensors_index import read_safetensors_index
from sdhub.models.samples import SAMPLES, Sample, TensorSpec, sample_index, samples, write_sample
from sdhub.models.tensor_index import TensorIndex, TensorInfo

CASES = [
    pytest.param(sample, fmt, id=f"{sample.name}-{fmt.value}")
    for sample in SAMPLES.values()
    for fmt in sample.formats
]


def _subset_errors(expected: Any, got: Any, path: str = "details") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected a dict, got {got!r}"]
        errors: list[str] = []
        for key, value in expected.items():
            if key not in got:
                errors.append(f"{path}.{key} missing")
            else:
                errors += _subset_errors(value, got[key], f"{path}.{key}")
        return errors
    return [] if expected == got else [f"{path}: expected {expected!r}, got {got!r}"]


def assert_as_recipe_says(sample: Sample, fmt: FileFormat, found: Classification) -> None:
    errors: list[str] = []
    if found.kind is not sample.kind:
        errors.append(f"kind {found.kind.value}, recipe says {sample.kind.value}")
    if found.base is not sample.base:
        errors.append(f"base {found.base.value}, recipe says {sample.base.value}")
    if sample.component is not None and found.component is not sample.component:
        errors.append(f"component {found.component}, recipe says {sample.component.value}")
    expected_warnings = list(sample.warnings)
    errors += _subset_errors(dict(sample.details), found.details)
    if fmt is FileFormat.SAFETENSORS:
        errors += _subset_errors(dict(sample.metadata_details), found.details)
        expected_warnings += sample.metadata_warnings
    for want in expected_warnings:
        if not any(want in w for w in found.warnings):
            errors.append(f"warning {want!r} missing from {found.warnings}")
    for got in found.warnings:
        if not any(want in got for want in expected_warnings):
            errors.append(f"unexpected warning {got!r}")
    assert not errors, f"{sample.name} as {fmt.value}:\n  " + "\n  ".join(errors)


def read_index(path: Path, fmt: FileFormat) -> TensorIndex:
    if fmt is FileFormat.SAFETENSORS:
        return read_safetensors_index(path)
    return read_pickle_index(path, fmt)


def lora_index(
    *, metadata: dict[str, str] | None = None, fmt: FileFormat = FileFormat.SAFETENSORS
) -> TensorIndex:
    index = sample_index(SAMPLES["lora-kohya-sd1"], FileFormat.SAFETENSORS)
    index.format = fmt
    index.metadata = dict(metadata or {})
    return index


# --------------------------------------------------------------------------- every recipe


@pytest.mark.parametrize(("sample", "fmt"), CASES)
def test_recipe_index_classifies_as_recipe_says(sample: Sample, fmt: FileFormat) -> None:
    found = classify(sample_index(sample, fmt), filename=sample.filename_for(fmt))
    assert_as_recipe_says(sample, fmt, found)
    json.dumps(found.details)  # the CLI prints it


@pytest.mark.parametrize(("sample", "fmt"), CASES)
def test_recipe_file_reads_back_and_classifies(
    sample: Sample, fmt: FileFormat, tmp_path: Path
) -> None:
    path = write_sample(sample, tmp_path / sample.filename_for(fmt), fmt)
    index = read_index(path, fmt)
    expected = sample_index(sample, fmt)
    assert {n: (t.shape, t.dtype) for n, t in index.tensors.items()} == {
        n: (t.shape, t.dtype) for n, t in expected.tensors.items()
    }
    assert index.values == expected.values
    assert index.metadata == expected.metadata
    assert_as_recipe_says(sample, fmt, classify(index, filename=path.name))


TORCH_WRITTEN = [
    ("ckpt-sd1", FileFormat.TORCH_ZIP),
    ("ckpt-sd1-ema-full", FileFormat.TORCH_LEGACY),
    ("ckpt-sd1", FileFormat.SAFETENSORS),
    ("ckpt-flux-dev", FileFormat.SAFETENSORS),
    ("lora-kohya-sd1", FileFormat.SAFETENSORS),
    ("lora-kohya-sd1", FileFormat.TORCH_ZIP),
    ("lora-kohya-sdxl", FileFormat.SAFETENSORS),
    ("lora-diffusers-old-sd1", FileFormat.TORCH_ZIP),
    ("lora-cloneofsimo-list", FileFormat.TORCH_ZIP),
    ("embedding-a1111-sd1", FileFormat.TORCH_ZIP),
    ("embedding-a1111-legacy-paramdict", FileFormat.TORCH_ZIP),
    ("embedding-a1111-legacy-paramdict", FileFormat.TORCH_LEGACY),
    ("embedding-diffusers-sd1", FileFormat.TORCH_ZIP),
    ("embedding-sdxl", FileFormat.SAFETENSORS),
    ("hypernetwork-sd1", FileFormat.TORCH_ZIP),
    ("hypernetwork-nai-legacy", FileFormat.TORCH_LEGACY),
    ("vae-sd1-ckpt-with-loss", FileFormat.TORCH_ZIP),
    ("ip-adapter-sd15", FileFormat.TORCH_ZIP),
    ("upscaler-realesrgan", FileFormat.TORCH_ZIP),
    ("motion-module-sd15", FileFormat.TORCH_ZIP),
]


@pytest.mark.parametrize(
    ("name", "fmt"), TORCH_WRITTEN, ids=[f"{n}-{f.value}" for n, f in TORCH_WRITTEN]
)
def test_files_saved_by_torch_classify_as_recipe_says(
    name: str, fmt: FileFormat, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from support.torch_samples import save_with_torch

    sample = SAMPLES[name]
    path = save_with_torch(sample, tmp_path / sample.filename_for(fmt), fmt)
    index = read_index(path, fmt)
    assert set(index.tensors) == set(sample_index(sample, fmt).tensors)
    assert_as_recipe_says(sample, fmt, classify(index, filename=path.name))


def test_catalogue_covers_every_kind_base_and_component() -> None:
    kinds = {s.kind for s in SAMPLES.values()}
    assert kinds == set(Kind) - {Kind.INVALID}
    bases = {s.base for s in SAMPLES.values()}
    assert bases == set(Base)
    components = {s.component for s in SAMPLES.values() if s.kind is Kind.OTHER}
    assert components == set(Component)
    assert {s.format for s in SAMPLES.values()} >= {FileFormat.SAFETENSORS, FileFormat.TORCH_ZIP}
    assert any(FileFormat.TORCH_LEGACY in s.formats for s in SAMPLES.values())
    networks = {s.details.get("network") for s in samples(Kind.LORA)}
    assert networks >= {"lora", "locon", "loha", "lokr", "ia3", "oft", "boft", "glora", "full"}
    assert networks >= {"dora", "dylora"}


def test_samples_filter_by_kind_base_and_size() -> None:
    small = samples(max_bytes=100_000)
    assert small and all(s.nbytes <= 100_000 for s in small)
    assert all(s.base is Base.SDXL for s in samples(base=Base.SDXL))
    assert {s.component for s in samples(component=Component.UPSCALER)} == {Component.UPSCALER}


def test_sample_files_stay_small() -> None:
    """Hundreds of these make a test library: each is a few MB at most."""
    assert max(s.nbytes for s in SAMPLES.values()) < 10_000_000
    assert sorted(s.nbytes for s in SAMPLES.values())[len(SAMPLES) // 2] < 1_000_000


def test_filename_for_each_container() -> None:
    lora = SAMPLES["lora-kohya-sd1"]
    assert lora.filename_for(FileFormat.SAFETENSORS) == "mystyle.safetensors"
    assert lora.filename_for(FileFormat.TORCH_ZIP) == "mystyle.pt"
    assert SAMPLES["ckpt-sd1"].filename_for(FileFormat.TORCH_ZIP) == "dreamy-mix-v1.ckpt"
    assert SAMPLES["ckpt-sd1-inpainting"].filename_for(FileFormat.SAFETENSORS) == (
        "sd-v1-5-inpainting.safetensors"
    )


def test_written_values_are_small_finite_and_seeded(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from safetensors.numpy import load_file

    sample = SAMPLES["lora-kohya-sd1"]
    a = write_sample(sample, tmp_path / "a.safetensors", seed=1)
    b = write_sample(sample, tmp_path / "b.safetensors", seed=2)
    z = write_sample(sample, tmp_path / "z.safetensors", seed=None)
    assert a.read_bytes() != b.read_bytes()
    assert write_sample(sample, tmp_path / "a2.safetensors", seed=1).read_bytes() == a.read_bytes()
    arrays = load_file(str(a))
    for name, array in arrays.items():
        if name.endswith(".alpha"):
            assert float(array) == 4.0  # alpha tensors hold the recipe's alpha
        else:
            assert (
                np.isfinite(array).all() and np.abs(array).max() < 0.05 and np.abs(array).max() > 0
            )
    assert all(
        not array.any() for n, array in load_file(str(z)).items() if not n.endswith(".alpha")
    )


def test_every_float_dtype_writes_finite_values(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    tensors = {
        dtype: TensorSpec((64,), dtype)
        for dtype in ("F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2")
    }
    sample = Sample("dtypes", Kind.OTHER, Base.UNKNOWN, "dtypes.safetensors", tensors)
    path = write_sample(sample, tmp_path / "dtypes.safetensors", seed=3)
    for name, tensor in load_file(str(path)).items():
        values = tensor.to(torch.float32)
        assert torch.isfinite(values).all(), name
        assert 0 < values.abs().max() < 0.5, name


# --------------------------------------------------------------------------- labels that lie


def test_metadata_base_that_disagrees_with_shapes_is_a_warning() -> None:
    found = classify(
        lora_index(metadata={"ss_base_model_version": "flux1"}), filename="a.safetensors"
    )
    assert found.base is Base.SD1
    assert found.details["base_from"] == "shapes"
    assert found.warnings == ["metadata says flux (ss_base_model_version=flux1) but shapes are sd1"]


def test_metadata_that_agrees_or_names_a_sibling_is_quiet() -> None:
    sd1 = lora_index(metadata={"ss_base_model_version": "sd_v1", "ss_v2": "False"})
    assert classify(sd1, filename="a.safetensors").warnings == []
    refiner = sample_index(SAMPLES["ckpt-sdxl-refiner"])
    refiner.metadata = {"modelspec.architecture": "stable-diffusion-xl-v1-base"}
    assert classify(refiner, filename="refiner.safetensors").warnings == []


def test_ss_v2_alone_claims_sd2() -> None:
    found = classify(lora_index(metadata={"ss_v2": "True"}), filename="a.safetensors")
    assert found.warnings == ["metadata says sd2 (ss_v2=True) but shapes are sd1"]


def test_modelspec_kind_that_disagrees_is_a_warning() -> None:
    index = lora_index(metadata={"modelspec.architecture": "stable-diffusion-v1/textual-inversion"})
    found = classify(index, filename="a.safetensors")
    assert found.kind is Kind.LORA
    assert "metadata says embedding (modelspec.architecture=" in found.warnings[0]
    assert found.warnings[0].endswith("but shapes are lora")


def test_network_algorithm_claimed_by_metadata_but_not_in_keys() -> None:
    index = lora_index(
        metadata={"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'}
    )
    found = classify(index, filename="a.safetensors")
    assert found.details["network"] == "lora"
    assert found.warnings == [
        "metadata says loha (ss_network_module=lycoris.kohya) but keys are lora"
    ]


def test_name_claiming_another_base_is_a_warning() -> None:
    found = classify(sample_index(SAMPLES["embedding-sdxl"]), filename="mychar-sd15.safetensors")
    assert found.base is Base.SDXL
    assert found.warnings == ["name says sd1 but shapes are sdxl"]


def test_container_that_does_not_match_the_extension() -> None:
    as_ckpt = classify(lora_index(), filename="mystyle.ckpt")
    assert as_ckpt.warnings == ["named .ckpt but the file is safetensors"]
    pickled = classify(lora_index(fmt=FileFormat.TORCH_ZIP), filename="mystyle.safetensors")
    assert pickled.warnings == ["named .safetensors but the file is torch-zip"]


def test_extension_a1111_does_not_load_for_the_kind() -> None:
    index = sample_index(SAMPLES["hypernetwork-sd1"], FileFormat.TORCH_ZIP)
    index.format = FileFormat.SAFETENSORS
    found = classify(index, filename="anime-style-hn.safetensors")
    assert found.kind is Kind.HYPERNETWORK
    assert found.warnings == ["A1111 loads hypernetwork files only as .pt"]
    ckpt = classify(sample_index(SAMPLES["ckpt-sd1"], FileFormat.TORCH_ZIP), filename="model.pth")
    assert ckpt.warnings == ["A1111 loads checkpoint files only as .ckpt/.safetensors"]


def test_vae_name_hint_that_the_shapes_rule_out() -> None:
    index = sample_index(SAMPLES["vae-flux"])
    found = classify(index, filename="sdxl_vae.safetensors")
    assert found.base is Base.UNKNOWN
    assert found.details["candidates"] == ["sd3", "flux"]
    assert found.warnings == ["name says sdxl but shapes allow only sd3, flux"]


def test_vae_base_from_metadata_before_name() -> None:
    index = sample_index(SAMPLES["vae-unknown-z4"], FileFormat.SAFETENSORS)
    index.metadata = {"modelspec.architecture": "stable-diffusion-xl-v1-base"}
    found = classify(index, filename="sd15-vae.safetensors")
    assert (found.base, found.details["base_from"]) == (Base.SDXL, "metadata")
    assert "candidates" not in found.details


def test_prediction_hints_that_disagree() -> None:
    index = sample_index(SAMPLES["ckpt-sd2"])
    index.metadata = {"modelspec.prediction_type": "epsilon"}
    found = classify(index, filename="sd21-vpred.safetensors")
    assert (found.details["prediction"], found.details["prediction_from"]) == (
        "epsilon",
        "metadata",
    )
    assert found.warnings == ["name says v prediction but metadata says epsilon"]
    quiet = classify(sample_index(SAMPLES["ckpt-sd2"]), filename="sd21.safetensors")
    assert quiet.details["prediction"] is None and quiet.warnings == []


def test_negative_embedding_hints() -> None:
    index = sample_index(SAMPLES["embedding-sdxl"])
    for name, negative in (
        ("ng_deepnegative_v1_75t.safetensors", True),
        ("badhandv4.safetensors", True),
        ("unaestheticXLv31.safetensors", True),
        ("neg-xl.safetensors", True),
        ("negroni-style.safetensors", False),
        ("mychar.safetensors", False),
    ):
        assert classify(index, filename=name).details["negative"] is negative, name


def test_hints_digest_kohya_metadata() -> None:
    tags = {"10_mychar woman": {"mychar": 30, "1girl": 29, "smile": 3}, "5_extra": {"smile": 4}}
    meta = {
        "ss_tag_frequency": json.dumps(tags),
        "ss_output_name": "mychar_v2",
        "modelspec.trigger_phrase": "mychar woman",
        "ss_network_args": '{"conv_dim": 4, "algo": "locon"}',
    }
    hints = classify(lora_index(metadata=meta), filename="a.safetensors").details["hints"]
    assert hints["top_tags"] == ["mychar", "1girl", "smile"]
    assert hints["dataset_dirs"] == ["mychar woman", "extra"]
    assert hints["trigger_phrase"] == "mychar woman"
    assert hints["output_name"] == "mychar_v2"
    assert hints["network_args"] == {"conv_dim": 4, "algo": "locon"}


def test_malformed_metadata_is_ignored() -> None:
    meta = {
        "ss_tag_frequency": "{not json",
        "ss_network_args": "[1, 2]",
        "ss_network_alpha": "None",
        "ss_base_model_version": "something-else",
    }
    found = classify(lora_index(metadata=meta), filename="a.safetensors")
    assert found.details["alpha"] is None
    assert "top_tags" not in found.details["hints"] and found.warnings == []


# --------------------------------------------------------------------------- odd indexes


def test_empty_index_is_invalid() -> None:
    found = classify(TensorIndex(format=FileFormat.SAFETENSORS))
    assert (found.kind, found.error) == (Kind.INVALID, "no tensors")


def test_unknown_layout_is_other_with_a_warning() -> None:
    index = TensorIndex(
        format=FileFormat.SAFETENSORS,
        tensors={
            "foo.bar": TensorInfo("foo.bar", (3, 3), "F32"),
            "baz": TensorInfo("baz", (2,), "F16"),
        },
    )
    found = classify(index, filename="weird.safetensors")
    assert (found.kind, found.component, found.base) == (
        Kind.OTHER,
        Component.UNKNOWN,
        Base.UNKNOWN,
    )
    assert found.warnings == ["no known model layout among 2 tensors (e.g. 'baz')"]


def test_bare_list_that_is_no_lora() -> None:
    tensors = {str(i): TensorInfo(str(i), (5, 7, 3), "F32") for i in range(3)}
    found = classify(TensorIndex(format=FileFormat.TORCH_ZIP, tensors=tensors), filename="x.pt")
    assert found.kind is Kind.OTHER
    assert found.warnings == ["a bare list of 3 unnamed tensors: no known model layout"]


@pytest.mark.parametrize("wrapper", ["module.", "state_dict.", "state_dict.module.", "_orig_mod."])
def test_wrapper_prefixes_change_nothing(wrapper: str) -> None:
    for sample in SAMPLES.values():
        fmt = sample.format
        index = sample_index(sample, fmt)
        wrapped = TensorIndex(
            format=fmt,
            tensors={
                wrapper + n: TensorInfo(wrapper + n, t.shape, t.dtype)
                for n, t in index.tensors.items()
            },
            metadata=index.metadata,
            values=index.values,
        )
        name = sample.filename_for(fmt)
        plain, found = classify(index, filename=name), classify(wrapped, filename=name)
        assert (found.kind, found.base, found.component) == (
            plain.kind,
            plain.base,
            plain.component,
        ), sample.name


def test_reader_that_flattens_value_lists() -> None:
    index = sample_index(SAMPLES["hypernetwork-320-only"], FileFormat.TORCH_ZIP)
    structure = index.values.pop("layer_structure")
    index.values.update({f"layer_structure.{i}": v for i, v in enumerate(structure)})
    found = classify(index, filename="selfattn-only.pt")
    assert found.details["layer_structure"] == [1, 2, 1]
    assert found.warnings == []


def test_transformers5_clip_without_text_model_level() -> None:
    index = sample_index(SAMPLES["text-encoder-clip-l"])
    index.tensors = {
        n.removeprefix("text_model."): TensorInfo(n.removeprefix("text_model."), t.shape, t.dtype)
        for n, t in index.tensors.items()
    }
    found = classify(index, filename="clip_l.safetensors")
    assert (found.component, found.details["encoder"]) == (Component.TEXT_ENCODER, "clip-l")


_ODD_SHAPES = [(), (0,), (1,), (7, 3, 2, 9, 1), (0, 768), (768,), (3, 0, 3, 3)]


def test_classify_never_raises_on_mangled_indexes() -> None:
    """Every recipe with random shapes and names swapped out: always a JSON-able answer."""
    rng = random.Random(1234)
    for sample in SAMPLES.values():
        base = sample_index(sample, sample.format)
        for _ in range(6):
            tensors: dict[str, TensorInfo] = {}
            for name, info in base.tensors.items():
                roll = rng.random()
                if roll < 0.3:
                    info = TensorInfo(
                        name, rng.choice(_ODD_SHAPES), rng.choice(["F16", "I64", "X9"])
                    )
                elif roll < 0.35:
                    continue
                elif roll < 0.4:
                    name = name[: rng.randrange(len(name) + 1)]
                tensors[name] = TensorInfo(name, info.shape, info.dtype)
            values: dict[str, Any] = {
                k: rng.choice([None, [], "x", 3, [1.5], {"a": 1}]) for k in base.values
            }
            index = TensorIndex(
                format=base.format, tensors=tensors, values=values, metadata=base.metadata
            )
            found = classify(
                index, filename=rng.choice([None, "", "a", sample.filename, "dir/x.vae.pt"])
            )
            assert isinstance(found.kind, Kind)
            json.dumps(found.details)
            assert all(isinstance(w, str) for w in found.warnings)


def test_a_classifier_bug_becomes_other_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import sdhub.models.classify as classify_module

    def broken(view: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(classify_module, "_DETECTORS", (broken,))
    found = classify(sample_index(SAMPLES["ckpt-sd1"]))
    assert (found.kind, found.component) == (Kind.OTHER, Component.UNKNOWN)
    assert found.warnings == ["classification failed (RuntimeError: boom); treated as other"]


# --------------------------------------------------------------------------- real architectures


@pytest.mark.slow
def test_real_library_architectures_classify() -> None:
    """State dicts of the real diffusers/transformers/peft models (on the meta device)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from accelerate import init_empty_weights
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        FluxTransformer2DModel,
        UNet2DConditionModel,
    )
    from diffusers.utils.state_dict_utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}

    def index(state: dict[str, Any], prefix: str = "") -> TensorIndex:
        return TensorIndex(
            format=FileFormat.SAFETENSORS,
            tensors={
                prefix + k: TensorInfo(prefix + k, tuple(v.shape), names.get(v.dtype, "F32"))
                for k, v in state.items()
            },
        )

    sd1 = {"sample_size": 64, "cross_attention_dim": 768}
    sdxl = {
        "sample_size": 128,
        "cross_attention_dim": 2048,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "block_out_channels": (320, 640, 1280),
        "transformer_layers_per_block": [1, 2, 10],
        "attention_head_dim": [5, 10, 20],
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,
    }
    attn = LoraConfig(r=8, lora_alpha=8, target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    with init_empty_weights():
        for config, base in ((sd1, Base.SD1), (sdxl, Base.SDXL)):
            unet = UNet2DConditionModel(**config)
            found = classify(index(unet.state_dict()))
            assert (found.component, found.base) == (Component.DIFFUSION_MODEL, base)
            found = classify(index(ControlNetModel.from_unet(unet).state_dict()))
            assert (found.component, found.base) == (Component.CONTROLNET, base)
            unet.add_adapter(attn)
            lora = get_peft_model_state_dict(unet)
            found = classify(index(lora, "unet."))
            assert (found.kind, found.base, found.details["format"]) == (Kind.LORA, base, "peft")
            found = classify(index(convert_state_dict_to_kohya(dict(lora))))
            assert (found.kind, found.base, found.details["rank"]) == (Kind.LORA, base, 8)

        clip = CLIPTextModel(
            CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12)
        )
        found = classify(index(clip.state_dict()))
        assert (found.component, found.details["encoder"]) == (Component.TEXT_ENCODER, "clip-l")
        t5 = T5EncoderModel(
            T5Config(
                d_model=4096,
                d_ff=10240,
                num_layers=24,
                num_heads=64,
                feed_forward_proj="gated-gelu",
            )
        )
        assert classify(index(t5.state_dict())).details["encoder"] == "t5xxl"

        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=2,
        )
        found = classify(index(vae.state_dict()), filename="sdxl-vae-fp16-fix.safetensors")
        assert (found.kind, found.base, found.details["layout"]) == (
            Kind.VAE,
            Base.SDXL,
            "diffusers",
        )

        flux = FluxTransformer2DModel(guidance_embeds=True)
        found = classify(index(flux.state_dict()))
        assert (found.component, found.base, found.details["flux_variant"]) == (
            Component.DIFFUSION_MODEL,
            Base.FLUX,
            "dev",
        )
        flux.add_adapter(LoraConfig(r=16, target_modules=["to_k", "to_q", "to_v"]))
        found = classify(index(get_peft_model_state_dict(flux), "transformer."))
        assert (found.kind, found.base, found.details["rank"]) == (Kind.LORA, Base.FLUX, 16)
