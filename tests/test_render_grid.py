"""The reference grid file, the shipped configs and the CLIP vocabulary (no rendering)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdhub.models.kinds import Base
from sdhub.models.render import SAMPLERS, GridError, default_grid, load_grid, parse_grid


def test_default_grid_is_valid_and_sized_per_family() -> None:
    grid = default_grid()
    assert len(grid.prompts) >= 3 and all(p.negative for p in grid.prompts)
    assert grid.sweeps.lora_weights == (0.6, 0.8, 1.0)
    assert grid.sweeps.lora_add_recommended
    assert grid.settings_for(Base.SD1).width == 512
    assert grid.settings_for(Base.SD2).width == 768
    sdxl = grid.settings_for(Base.SDXL)
    assert (sdxl.width, sdxl.height) == (1024, 1024)
    assert sdxl.sampler == grid.settings.sampler  # inherited from [render]


def test_fingerprint_follows_the_pixels_not_the_file_name(tmp_path: Path) -> None:
    text = '[render]\nseeds=[1]\n[[prompts]]\npositive="a cat"\n'
    a = parse_grid(text, source="a.toml")
    b = parse_grid(text, source="b.toml")
    c = parse_grid(text.replace("seeds=[1]", "seeds=[2]"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[render]\nwdith = 64\n[[prompts]]\npositive="x"\n', "render.wdith is not a known key"),
        (
            '[render]\nsteps = "twenty"\n[[prompts]]\npositive="x"\n',
            "render.steps must be an integer",
        ),
        (
            '[render]\nwidth = 100\n[[prompts]]\npositive="x"\n',
            "render.width must be a multiple of 8",
        ),
        (
            '[render]\nsampler = "Euler b"\n[[prompts]]\npositive="x"\n',
            "render.sampler is not a known sampler",
        ),
        (
            '[render]\nseeds = []\n[[prompts]]\npositive="x"\n',
            "render.seeds must be a non-empty list",
        ),
        ("[render]\nsteps = 3\n", "prompts must be a non-empty array"),
        ('[[prompts]]\npositive = ""\n', "prompts[0].positive must be a non-empty string"),
        ('[[prompts]]\npositive="x"\n[family.sd9]\nwidth=64\n', "family.sd9 is not a base family"),
        (
            '[[prompts]]\npositive="x"\n[sweep.lora]\nweights = []\n',
            "sweep.lora.weights must be a non-empty list",
        ),
        (
            '[[prompts]]\npositive="x"\n[sweep.lora]\nweight = [1]\n',
            "sweep.lora.weight is not a known key",
        ),
        ("[[prompts]\n", "not valid TOML"),
    ],
)
def test_bad_grids_fail_with_one_line_naming_file_and_key(toml: str, fragment: str) -> None:
    with pytest.raises(GridError) as info:
        parse_grid(toml, source="my-grid.toml")
    message = str(info.value)
    assert message.startswith("my-grid.toml: ")
    assert fragment in message
    assert "\n" not in message


def test_load_grid_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=r"nope\.toml: cannot read grid file"):
        load_grid(tmp_path / "nope.toml")


def test_a1111_sampler_names_map_to_diffusers_schedulers() -> None:
    for name in ("Euler a", "Euler", "DPM++ 2M Karras", "DDIM"):
        assert name in SAMPLERS
    assert SAMPLERS["DPM++ 2M Karras"].scheduler == "DPMSolverMultistepScheduler"
    assert SAMPLERS["DPM++ 2M Karras"].options == {"use_karras_sigmas": True}
    assert SAMPLERS["Euler a"].scheduler == "EulerAncestralDiscreteScheduler"


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_shipped_configs_are_complete_diffusers_folders(family: str) -> None:
    from sdhub.models.render.bases import shipped_config_dir

    folder = shipped_config_dir(Base(family))
    index = json.loads((folder / "model_index.json").read_text())
    for component, value in index.items():
        if not isinstance(value, list) or value[0] is None:
            continue
        sub = folder / component
        assert sub.is_dir(), f"{family}: {component}"
        assert any(sub.glob("*.json")), f"{family}: {component} has no config"


@pytest.mark.render
def test_shipped_clip_vocabulary_matches_openai_ids() -> None:
    pytest.importorskip("transformers")
    from sdhub.models.render.tokenizers import clip_tokenizer

    tok = clip_tokenizer()
    assert len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert clip_tokenizer("!").pad_token_id == 0


@pytest.mark.render
@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_shipped_configs_build_full_size_models_on_meta(family: str) -> None:
    torch = pytest.importorskip("torch")
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from sdhub.models.render.bases import shipped_config_dir

    folder = shipped_config_dir(Base(family))
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(
            json.loads((folder / "unet/config.json").read_text())
        )
        AutoencoderKL.from_config(json.loads((folder / "vae/config.json").read_text()))
    params = sum(p.numel() for p in unet.parameters())
    expected = {"sd1": 859_520_964, "sd2": 865_910_724, "sdxl": 2_567_463_684}[family]
    assert params == expected


@pytest.mark.render
@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_full_size_ldm_layout_passes_the_key_check(family: str) -> None:
    """Our diffusers→LDM names, run back through diffusers' own converters on the meta
    device, give every tensor the shipped config needs: the configs and the names agree
    with real single-file checkpoints as diffusers reads them."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from sdhub.models.render.bases import check_checkpoint, family_from_keys, shipped_config_dir
    from sdhub.models.render.tiny import ldm_state_dict
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = shipped_config_dir(Base(family))

    def config(sub: str) -> dict:
        return json.loads((folder / sub / "config.json").read_text())

    with torch.device("meta"):
        pipe = SimpleNamespace(
            unet=UNet2DConditionModel.from_config(config("unet")),
            vae=AutoencoderKL.from_config(config("vae")),
            text_encoder=CLIPTextModel(
                CLIPTextConfig.from_pretrained(str(folder / "text_encoder"), local_files_only=True)
            ),
        )
        if family == "sdxl":
            pipe.text_encoder_2 = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(
                    str(folder / "text_encoder_2"), local_files_only=True
                )
            )
    meta = ldm_state_dict(pipe, sd2=family == "sd2")
    assert family_from_keys(list(meta)) is Base(family)
    assert check_checkpoint(meta, Base(family), folder) == []
    # And a missing tensor is named, not "Cannot copy out of meta tensor".
    del meta["model.diffusion_model.out.2.weight"]
    problems = check_checkpoint(meta, Base(family), folder)
    assert problems and "conv_out.weight" in problems[0]
