"""Recommended weights: from Civitai's field, descriptions, example images, else the default.

The one implementation is :mod:`sdhub.catalog.weights`; :func:`civitai_weight`
(hub) feeds it the typed Civitai answers.
"""

from __future__ import annotations

import pytest
from sdhub.catalog.weights import (
    WeightInfo as Weight,
)
from sdhub.catalog.weights import (
    WeightSource,
    html_to_text,
    image_weights,
    recommended_weight,
    weight_from_description,
    weight_from_images,
    weight_from_settings,
)
from sdhub.hub.civitai import CivitaiModel, CivitaiVersion
from sdhub.hub.weights import civitai_weight
from sdhub.models.kinds import Kind

D = WeightSource.DESCRIPTION


# --- descriptions: what creators really write ---------------------------------------------------

TRUE_POSITIVES: list[tuple[str, Weight]] = [
    ("<p>Recommended weight: 0.7</p>", Weight(0.7, None, None, D)),
    ("<p>weight 0.6</p>", Weight(0.6, None, None, D)),
    ("Strength: 0.8", Weight(0.8, None, None, D)),
    ("<p>Use a weight of 0.5-0.8.</p>", Weight(0.65, 0.5, 0.8, D)),
    ("<p>LoRA weight 0.5~0.8, trigger: inkstyle</p>", Weight(0.65, 0.5, 0.8, D)),
    ("LoRA weight: 0.6 (UNet: 0.6, TEnc: 0.25)", Weight(0.6, None, None, D)),
    ("<p>Recommended strength is between 0.6 and 0.9</p>", Weight(0.75, 0.6, 0.9, D)),
    ("<ul><li>Weight: 0.6 - 0.8</li><li>CFG: 7</li></ul>", Weight(0.7, 0.6, 0.8, D)),
    ("<p>strength around 0.7–0.9 works best</p>", Weight(0.8, 0.7, 0.9, D)),
    ("<p>I recommend 0.7 weight for most prompts.</p>", Weight(0.7, None, None, D)),
    ("<p>Use it at 0.6-0.8 strength.</p>", Weight(0.7, 0.6, 0.8, D)),
    ("<p>Best weight: 0.8 (0.6 - 1.0 also works)</p>", Weight(0.8, 0.6, 1.0, D)),
    ("<p>Lora strength: 1</p>", Weight(1.0, None, None, D)),
    ("<p>Weight 0,7 empfohlen</p>", Weight(0.7, None, None, D)),
    ("<p>strength 70%</p>", Weight(0.7, None, None, D)),
    ("<p>Slider LoRA: weight -3 to 3</p>", Weight(3.0, -3.0, 3.0, D)),
    ("<p>multiplier: 0.9</p>", Weight(0.9, None, None, D)),
    (
        "<p>Denoising strength 0.4 for hires fix.</p><p>Suggested weight: 0.75</p>",
        Weight(0.75, None, None, D),
    ),
    (
        "<p>Trained on SD 1.5. Weight: 0.8</p><p>Example: &lt;lora:ink:0.8&gt;</p>",
        Weight(0.8, None, None, D),
    ),
    (
        "<p>model strength 0.8, clip strength 1</p>",
        Weight(0.8, None, None, D),
    ),
    ("<p>Note: weight 0.7</p>", Weight(0.7, None, None, D)),
    (
        "<p>Usage: <strong>weight</strong>: <em>0.65</em></p>",
        Weight(0.65, None, None, D),
    ),
]


@pytest.mark.parametrize(("text", "expected"), TRUE_POSITIVES)
def test_description_statements(text: str, expected: Weight) -> None:
    assert weight_from_description(text) == expected


FALSE_POSITIVES = [
    "<p>v0.8 is out! Retrained on more images.</p>",
    "<p>Works on SD 1.5 base and SDXL 1.0.</p>",
    "<p>CFG 7, 30 steps, 512x768, Clip skip 2</p>",
    "<p>Hires fix: denoising strength: 0.45, upscale by 2</p>",
    "<p>Denoising strength 0.5</p>",
    "<p>Trained for 10 epochs at learning rate 0.0001, network dim 32, alpha 16.</p>",
    "<p>weight decay 0.01</p>",
    "<p>Pony V6 XL version 2.0</p>",
    "<p>ControlNet strength 0.6 with openpose</p>",
    "<p>ADetailer denoising strength: 0.3</p>",
    "<p>Size 832x1216, 25 steps, CFG scale 5.5, sampler DPM++ 2M Karras</p>",
    "<p>Weights for Flux.1 D</p>",
    "<p>New in 1.5: better hands</p>",
    "",
    "<p>Strength: a lot</p>",
]


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_description_false_positives(text: str) -> None:
    assert weight_from_description(text) is None


def test_lora_tags_in_a_description_count_when_nothing_is_stated() -> None:
    text = "<p>Prompt: &lt;lora:inkstyle_v2:0.6&gt;, 1girl</p><p>&lt;lora:other:1.2&gt;</p>"
    assert weight_from_description(text, names=["inkstyle_v2.safetensors"]) == Weight(
        0.6, None, None, D
    )
    # Without names every tag counts: median and range.
    assert weight_from_description(text) == Weight(0.9, 0.6, 1.2, D)


def test_html_to_text_keeps_blocks_apart() -> None:
    assert html_to_text("<p>a&amp;b</p><p>c<br>d</p>").split() == ["a&b", "c", "d"]


# --- the service's field and example images ---------------------------------------------------


def test_settings_field() -> None:
    assert weight_from_settings({"strength": 0.8, "minStrength": 0.5, "maxStrength": 1}) == Weight(
        0.8, 0.5, 1, WeightSource.CIVITAI
    )
    assert weight_from_settings({"minStrength": 0.4, "maxStrength": 0.8}) == Weight(
        0.6, 0.4, 0.8, WeightSource.CIVITAI
    )
    assert weight_from_settings({}) is None
    assert weight_from_settings({"strength": "x"}) is None


IMAGES = [
    # Civitai generator: civitaiResources with our version id.
    {"civitaiResources": [{"type": "lora", "modelVersionId": 555, "weight": 0.7}]},
    {"civitaiResources": [{"type": "lora", "modelVersionId": 999, "weight": 2.0}]},
    # A1111: the tag in the prompt, and resources by AutoV3 hash.
    {"prompt": "1girl, <lora:inkstyle:0.6>, <lora:other:1.5>", "resources": []},
    {"resources": [{"name": "x", "type": "lora", "hash": "abcdef012345", "weight": 0.9}]},
    # additionalResources by AIR.
    {"additionalResources": [{"name": "urn:air:sd1:lora:civitai:1@555", "strength": 0.8}]},
    # AddNet extension.
    {"AddNet Model 1": "inkstyle(abcdef012345)", "AddNet Weight A 1": "0.75"},
    # Nothing about us.
    {"prompt": "a cat", "cfgScale": 7},
    None,
]


def test_example_image_statistics() -> None:
    weight = weight_from_images(
        IMAGES, names=["inkstyle.safetensors"], hashes=["ABCDEF012345"], version_id=555
    )
    assert weight == Weight(0.75, 0.6, 0.9, WeightSource.EXAMPLE_IMAGES)


def test_example_images_about_other_assets_give_nothing() -> None:
    assert weight_from_images(IMAGES[1:2] + IMAGES[6:], names=["inkstyle"], version_id=555) is None


def test_chain_order_and_kind_defaults() -> None:
    settings = {"strength": 0.9}
    desc = "<p>weight 0.6</p>"
    metas = [{"prompt": "<lora:ink:0.5>"}]
    common = {"image_metas": metas, "names": ["ink"]}
    assert recommended_weight(
        Kind.LORA, settings=settings, descriptions=[desc], **common
    ) == Weight(0.9, None, None, WeightSource.CIVITAI)
    assert recommended_weight(Kind.LORA, descriptions=[None, desc], **common).source is D
    assert recommended_weight(Kind.LORA, **common) == Weight(
        0.5, None, None, WeightSource.EXAMPLE_IMAGES
    )
    assert recommended_weight(Kind.LORA) == Weight(1.0, None, None, WeightSource.DEFAULT)
    assert recommended_weight(Kind.HYPERNETWORK).default == 1.0
    assert recommended_weight(Kind.EMBEDDING, descriptions=[desc]) is None
    assert recommended_weight(Kind.CHECKPOINT) is None


def test_civitai_weight_from_a_version_answer() -> None:
    model = CivitaiModel.parse(
        {"id": 1, "name": "Ink Style", "type": "LORA", "description": "<p>A style.</p>"}
    )
    version = CivitaiVersion.parse(
        {
            "id": 555,
            "name": "v1",
            "description": "<p>changelog: sharper lines</p>",
            "trainedWords": ["inkstyle"],
            "files": [
                {
                    "name": "ink_style_v1.safetensors",
                    "type": "Model",
                    "hashes": {"AutoV3": "ABCDEF012345"},
                }
            ],
            "images": [
                {"url": "u", "meta": {"prompt": "<lora:ink_style_v1:0.6>"}},
                {"url": "u", "meta": {"prompt": "<lora:ink_style_v1:0.8>"}},
                {"url": "u", "meta": {"prompt": "<lora:ink_style_v1:0.7>"}},
            ],
        }
    )
    assert civitai_weight(model, version) == Weight(0.7, 0.6, 0.8, WeightSource.EXAMPLE_IMAGES)


def test_weight_json_round_trip() -> None:
    weight = Weight(0.7, 0.5, 0.9, WeightSource.DESCRIPTION)
    assert weight.to_json() == {"default": 0.7, "min": 0.5, "max": 0.9, "source": "description"}
    assert Weight.from_json(weight.to_json()) == weight


# --- merged from the catalog's former copy ------------------------------------------------------

CATALOG_CASES: list[tuple[str | None, Weight | None]] = [
    ("<p>Recommended weight: 0.7</p>", Weight(0.7, None, None, D)),
    ("<p>Use a <strong>strength</strong> of 0.6-0.8.</p>", Weight(0.7, 0.6, 0.8, D)),
    ("<p>weights from 0.4 to 0.8, 0.6 is best</p>", Weight(0.6, 0.4, 0.8, D)),
    ("<p>use &lt;lora:mystyle:0.65&gt; in the prompt</p>", Weight(0.65, None, None, D)),
    ("<p>weight 0.6 or 0.8</p>", Weight(0.7, 0.6, 0.8, D)),
    ("<p>Trained 30 epochs, lr 1e-4, SD 1.5, CFG 7</p>", None),
    ("<p>model weight: 2GB</p>", None),
    ("<p>weight: 30 epochs</p>", None),
    ("<p>weight decay: 0.01</p>", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), CATALOG_CASES)
def test_description_cases_from_the_catalog(text: str | None, expected: Weight | None) -> None:
    assert weight_from_description(text, names=["mystyle"]) == expected


def test_unescaped_lora_tags_in_plain_text_count() -> None:
    assert weight_from_description("try <lora:mystyle:0.55>, 1girl", names=["mystyle"]) == Weight(
        0.55, None, None, D
    )


def test_image_weights_match_by_version_hash_name_and_prompt() -> None:
    metas = [
        {"civitaiResources": [{"modelVersionId": 7, "weight": 0.8, "type": "lora"}]},
        {"civitaiResources": [{"modelVersionId": "7", "strength": 0.9}]},
        {"resources": [{"name": "x", "hash": "abcdef012345", "weight": 0.6}]},
        {"additionalResources": [{"name": "civitai:1@7", "strength": 1}]},
        {"prompt": "a cat, <lora:mystyle:0.5>"},
        {"prompt": "a cat, <lora:other:0.1>"},
        None,
    ]
    found = image_weights(metas, version_id="7", names=["mystyle"], hashes=["ABCDEF012345"])
    assert sorted(found) == [0.5, 0.6, 0.8, 0.9, 1.0]
