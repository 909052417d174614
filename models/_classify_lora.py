"""The LoRA family: kohya, LyCORIS, diffusers, PEFT, XLabs and cloneofsimo key layouts.

A LoRA file is a set of *modules* (one per patched layer), each a handful of
tensors named ``<module><suffix>``. The suffixes tell the algorithm, the
module names tell which model part is patched, and the input widths of the
patched layers tell the base.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._classify_common import (
    ENCODER_BY_WIDTH,
    View,
    most_common,
    network_args,
    number,
    parameters,
    precision,
    result,
)
from ._lazy_re import LazyPattern
from .kinds import Base, Kind
from .report import Classification
from .tensor_index import TensorInfo

#: (suffix, algorithm, role). Longest first within overlapping suffixes.
_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    (".lora_linear_layer.down.weight", "diffusers", "down"),
    (".lora_linear_layer.up.weight", "diffusers", "up"),
    (".lora.down.weight", "diffusers", "down"),
    (".lora.up.weight", "diffusers", "up"),
    (".lora_down.weight", "kohya", "down"),
    (".lora_up.weight", "kohya", "up"),
    (".lora_mid.weight", "kohya", "mid"),
    (".lora_A.default.weight", "peft", "down"),
    (".lora_B.default.weight", "peft", "up"),
    (".lora_A.weight", "peft", "down"),
    (".lora_B.weight", "peft", "up"),
    (".lora_magnitude_vector.weight", "peft", "dora"),
    (".lora_magnitude_vector", "peft", "dora"),
    (".hada_w1_a", "loha", "w1_a"),
    (".hada_w1_b", "loha", "w1_b"),
    (".hada_w2_a", "loha", "w2_a"),
    (".hada_w2_b", "loha", "w2_b"),
    (".hada_t1", "loha", "t1"),
    (".hada_t2", "loha", "t2"),
    (".lokr_w1_a", "lokr", "w1_a"),
    (".lokr_w1_b", "lokr", "w1_b"),
    (".lokr_w2_a", "lokr", "w2_a"),
    (".lokr_w2_b", "lokr", "w2_b"),
    (".lokr_w1", "lokr", "w1"),
    (".lokr_w2", "lokr", "w2"),
    (".lokr_t1", "lokr", "t1"),
    (".lokr_t2", "lokr", "t2"),
    (".oft_blocks", "oft", "blocks"),
    (".oft_diag", "oft", "diag"),
    (".on_input", "ia3", "on_input"),
    (".a1.weight", "glora", "a1"),
    (".a2.weight", "glora", "a2"),
    (".b1.weight", "glora", "b1"),
    (".b2.weight", "glora", "b2"),
    (".diff_b", "full", "diff_b"),
    (".diff", "full", "diff"),
    (".w_norm", "norms", "w_norm"),
    (".b_norm", "norms", "b_norm"),
    (".dora_scale", "", "dora"),
    (".alpha", "", "alpha"),
    (".rescale", "", "rescale"),
)
#: diffusers attention processors (``attn1.processor.to_q_lora.down.weight``) and
#: XLabs Flux LoRAs (``double_blocks.0.processor.qkv_lora1.down.weight``).
_PROCESSOR = LazyPattern(r"^(?P<module>.*(?:_lora\d*|lora\d*_\w+))\.(?P<role>down|up)\.weight$")
_CLONEOFSIMO = LazyPattern(
    r"^(?P<part>unet|text_encoder|text_encoder_2):(?P<n>\d+):(?P<role>up|down)$"
)
_TOKEN = LazyPattern(r"^<[^<>]+>$")
_ROLE_ONLY = frozenset({"alpha", "dora", "rescale"})

#: Module-name prefixes → the model part they patch.
_PARTS: tuple[tuple[str, str], ...] = (
    ("lora_unet_", "unet"),
    ("lora_flux_", "unet"),
    ("lora_transformer_", "unet"),
    ("lora_prior_unet_", "unet"),
    ("lycoris_", "unet"),
    ("lora_te1_", "te1"),
    ("lora_te2_", "te2"),
    ("lora_te3_", "te3"),
    ("lora_te_", "te"),
    ("text_encoders.clip_l.transformer.", "te1"),
    ("text_encoders.clip_g.transformer.", "te2"),
    ("text_encoders.t5xxl.transformer.", "te3"),
    ("model.diffusion_model.", "unet"),
    ("diffusion_model.", "unet"),
    ("unet.", "unet"),
    ("transformer.", "unet"),
    ("text_encoder_2.", "te2"),
    ("text_encoder.", "te"),
    ("te1.", "te1"),
    ("te2.", "te2"),
)
_UNET_WORDS = LazyPattern(
    r"(?:^|_)(?:down_blocks|up_blocks|mid_block|input_blocks|output_blocks|middle_block"
    r"|double_blocks|single_blocks|transformer_blocks|single_transformer_blocks|joint_blocks"
    r"|time_embed|label_emb|img_in|txt_in|context_embedder|x_embedder|proj_out|conv_in)"
)
_TE_WORDS = LazyPattern(r"(?:^|_)(?:text_model|encoder_layers|resblocks|encoder_block)")
_CONV_PATH = LazyPattern(
    r"(?:^|_)(?:conv\d?|conv_shortcut|conv_in|conv_out|skip_connection|in_layers_2|out_layers_3|op)$"
)

# Structural cues in normalised module paths ("." → "_", lower case).
_FLUX_PATH = LazyPattern(r"(?:^|_)(?:double_blocks|single_blocks|single_transformer_blocks)_\d")
_SD3_PATH = LazyPattern(r"(?:^|_)joint_blocks_\d|(?:^|_)(?:context_block|x_block)_")
#: DiT attention (``attn.to_k``, not the UNet's ``attn1``/``attn2``) and joint-attention parts.
_JOINT_ATTN = LazyPattern(
    r"transformer_blocks_\d+_(?:attn_add_[qkv]_proj|attn_to_(?:[qkv]|out)|ff_context|attn_to_add_out)"
)
_CROSS_KV = LazyPattern(r"attn2_(?:processor_)?to_[kv](?:_lora)?$")
_SDXL_PATH = LazyPattern(
    r"input_blocks_(?:4|5|7|8)_1_transformer_blocks_[1-9]"
    r"|output_blocks_[0-5]_1_transformer_blocks_[1-9]"
    r"|middle_block_1_transformer_blocks_[1-9]"
    r"|down_blocks_[12]_attentions_\d_transformer_blocks_[1-9]"
    r"|up_blocks_[01]_attentions_\d_transformer_blocks_[1-9]"
    r"|mid_block_attentions_0_transformer_blocks_[1-9]"
)
_SD12_PATH = LazyPattern(
    r"down_blocks_0_attentions|up_blocks_3_attentions|down_blocks_3_|input_blocks_(?:1|2)_1_"
    r"|input_blocks_1[01]_|output_blocks_(?:9|10|11)_1_"
)
_PROJ_IN = LazyPattern(r"(?:attentions_\d+|_\d+_1)_proj_in$")
_TE_HIDDEN = LazyPattern(
    r"(?:self_attn_[qkv]_proj|self_attn_out_proj|mlp_fc1|attn_in_proj|mlp_c_fc|selfattention_[qkvo])$"
)

_ALGO_ALIASES: dict[str, str] = {
    "lora": "lora",
    "locon": "locon",
    "loha": "loha",
    "lokr": "lokr",
    "ia3": "ia3",
    "dylora": "dylora",
    "glora": "glora",
    "full": "full",
    "diag-oft": "oft",
    "oft": "oft",
    "boft": "boft",
}


@dataclass(slots=True)
class _Module:
    name: str
    part: str
    path: str
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    styles: set[str] = field(default_factory=set)
    _cache: dict[str, Any] = field(default_factory=dict)

    def _cached(self, key: str, compute: Any) -> Any:
        """Properties are asked many times per module and modules number thousands."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def algo(self) -> str | None:
        return self._cached("algo", self._find_algo)

    def _find_algo(self) -> str | None:
        roles = set(self.tensors)
        if roles & {"down", "up"}:
            return "lora"
        if roles & {"w1_a", "w1_b", "w2_a", "w2_b"} and "hada" in self.styles:
            return "loha"
        if "lokr" in self.styles:
            return "lokr"
        if "blocks" in roles:
            blocks = self.tensors["blocks"].shape
            return "boft" if len(blocks) == 4 else "oft"
        if "diag" in roles:
            return "oft"
        if "on_input" in roles:
            return "ia3"
        if roles & {"a1", "a2", "b1", "b2"}:
            return "glora"
        if roles & {"diff", "diff_b"}:
            return "full"
        if roles & {"w_norm", "b_norm"}:
            return "norms"
        return None

    @property
    def conv(self) -> bool:
        return self._cached("conv", self._find_conv)

    def _find_conv(self) -> bool:
        t = self.tensors
        if "mid" in t or "t1" in t or "t2" in t:
            return True
        for role in ("down", "w2", "diff"):
            shape = t[role].shape if role in t else ()
            if len(shape) == 4 and (shape[2] > 1 or shape[3] > 1):
                return True
        if self.algo in ("loha", "lokr", "glora") and _CONV_PATH.search(self.path):
            return "_proj_in" not in self.path and "_proj_out" not in self.path
        return False

    @property
    def rank(self) -> int | None:
        return self._cached("rank", self._find_rank)

    def _find_rank(self) -> int | None:
        t = self.tensors
        algo = self.algo
        if algo == "lora" and "down" in t and t["down"].shape:
            return t["down"].shape[0]
        if algo == "loha" and "w1_b" in t and t["w1_b"].shape:
            return t["w1_b"].shape[0]
        if algo == "lokr":
            for role in ("w2_b", "w1_b"):
                if role in t and t[role].shape:
                    return t[role].shape[0]
            return None
        if algo == "glora" and "a2" in t and t["a2"].shape:
            return t["a2"].shape[0]  # a2: Linear(in, rank)
        return None

    @property
    def in_width(self) -> int | None:
        return self._cached("in_width", self._find_in_width)

    def _find_in_width(self) -> int | None:
        """Input features of the patched layer, where the tensors show them."""
        t = self.tensors
        algo = self.algo
        shape: tuple[int, ...] = ()
        if algo == "lora" and "down" in t:
            shape = t["down"].shape
        elif algo == "loha" and "w1_b" in t and "t1" not in t:
            shape = t["w1_b"].shape
        elif algo == "glora" and "a2" in t:
            shape = t["a2"].shape
        elif algo == "full" and "diff" in t:
            shape = t["diff"].shape
        elif algo == "lokr":
            first = t.get("w1") or t.get("w1_b")
            second = t.get("w2") or t.get("w2_b")
            linear = first and second and len(first.shape) >= 2 and len(second.shape) == 2
            if linear and "t2" not in t:
                return first.shape[1] * second.shape[1]
            return None
        return shape[1] if len(shape) >= 2 else None

    @property
    def out_width(self) -> int | None:
        return self._cached("out_width", self._find_out_width)

    def _find_out_width(self) -> int | None:
        t = self.tensors
        if "blocks" in t:
            s = t["blocks"].shape
            return s[-3] * s[-1] if len(s) >= 3 else None
        if "diag" in t:
            s = t["diag"].shape
            return s[0] * s[-1] if len(s) == 3 else None
        if "up" in t and len(t["up"].shape) >= 2:
            return t["up"].shape[0]
        if "weight" in t and t["weight"].shape:
            return max(t["weight"].shape)
        return None


@dataclass(slots=True)
class _Parsed:
    modules: dict[str, _Module]
    tokens: list[str]
    bundled: list[TensorInfo]
    covered: int  # tensors that belong to LoRA modules (weights, not only alphas)
    styles: Counter[str]


#: suffix → (style, role); LoHa's style is "hada" so it never reads as a "loha" prefix.
_SUFFIX_TABLE: dict[str, tuple[str, str]] = {
    suffix: ("hada" if style == "loha" else style, role) for suffix, style, role in _SUFFIXES
}


def _lora_suffix(name: str) -> str | None:
    """The LoRA suffix ``name`` ends with (longest match), by dict look-ups, not a scan."""
    first = name.rfind(".")
    if first <= 0:
        return None
    second = name.rfind(".", 0, first)
    third = name.rfind(".", 0, second) if second > 0 else -1
    for cut in (third, second, first):
        if cut > 0 and name[cut:] in _SUFFIX_TABLE:
            return name[cut:]
    return None


def _split_part(module: str) -> tuple[str, str]:
    if ":" in module:  # cloneofsimo: "unet:3", "text_encoder:0"
        head = module.split(":", 1)[0]
        return {"unet": "unet", "text_encoder": "te", "text_encoder_2": "te2"}.get(
            head, "unknown"
        ), ""
    for prefix, part in _PARTS:
        if module.startswith(prefix):
            return part, _norm(module[len(prefix) :])
    path = _norm(module)
    if _TE_WORDS.search(path) and not _UNET_WORDS.search(path):
        return "te", path
    if _UNET_WORDS.search(path):
        return "unet", path
    return "unknown", path


def _norm(path: str) -> str:
    return path.replace(".", "_").lower()


def _parse(view: View) -> _Parsed:
    modules: dict[str, _Module] = {}
    tokens: list[str] = []
    bundled: list[TensorInfo] = []
    covered = 0
    styles: Counter[str] = Counter()
    leftovers: dict[str, TensorInfo] = {}

    def add(module: str, role: str, style: str, info: TensorInfo) -> None:
        nonlocal covered
        mod = modules.get(module)
        if mod is None:
            part, path = _split_part(module)
            mod = modules[module] = _Module(module, part, path)
        mod.tensors[role] = info
        if style:
            mod.styles.add(style)
            styles[style] += 1
        if role not in _ROLE_ONLY:
            covered += 1

    for name, info in view.tensors.items():
        suffix = _lora_suffix(name)
        if suffix is not None and not name.startswith("bundle_emb."):
            style, role = _SUFFIX_TABLE[suffix]
            add(name[: -len(suffix)], role, style, info)
            continue
        if name.startswith("bundle_emb."):
            token = name.split(".")[1]
            if token and token not in tokens:
                tokens.append(token)
            bundled.append(info)
            continue
        if name.startswith("<") and _TOKEN.match(name):
            tokens.append(name)
            bundled.append(info)
            continue
        match = _CLONEOFSIMO.match(name) if ":" in name else None
        if match:
            add(f"{match['part']}:{match['n']}", match["role"], "cloneofsimo", info)
            continue
        if name.endswith(("down.weight", "up.weight")):
            match = _PROCESSOR.match(name)
            if match:
                add(match["module"], match["role"], "processor", info)
                continue
        leftovers[name] = info
    # (IA)^3 keeps a plain ``.weight`` beside its ``.on_input`` flag.
    for name, info in leftovers.items():
        if name.endswith(".weight") and name[: -len(".weight")] in modules:
            mod = modules[name[: -len(".weight")]]
            if "on_input" in mod.tensors:
                mod.tensors["weight"] = info
                covered += 1
    # Modules holding nothing but alpha/dora (a stray ``.alpha``) do not count.
    modules = {k: m for k, m in modules.items() if set(m.tensors) - _ROLE_ONLY}
    return _Parsed(modules, tokens, bundled, covered, styles)


def _format(parsed: _Parsed) -> str:
    styles = parsed.styles
    names = list(parsed.modules)
    if styles["cloneofsimo"]:
        return "cloneofsimo"
    if any(re.search(r"processor\.\w*lora\d", n) for n in names):
        return "xlabs"
    if styles["peft"] >= max(styles["kohya"], styles["diffusers"], styles["processor"], 1):
        return "peft"
    if styles["processor"] or styles["diffusers"]:
        return "diffusers"
    if any(n.startswith(("diffusion_model.", "text_encoders.")) for n in names):
        return "comfyui"
    return "kohya"


def _network(parsed: _Parsed, view: View) -> tuple[str, bool, list[str]]:
    """(network, dora, warnings)."""
    warnings: list[str] = []
    algos = Counter(m.algo for m in parsed.modules.values() if m.algo and m.algo != "norms")
    if not algos:
        algos = Counter(m.algo for m in parsed.modules.values() if m.algo)
    network = algos.most_common(1)[0][0] if algos else "lora"
    if network == "lora" and any(m.conv for m in parsed.modules.values() if m.algo == "lora"):
        network = "locon"
    dora = any("dora" in m.tensors for m in parsed.modules.values())
    meta_module = view.metadata.get("ss_network_module", "")
    args = network_args(view.metadata)
    claimed: str | None = None
    if meta_module.endswith("dylora"):
        claimed = "dylora"
    elif meta_module.endswith(".oft"):
        claimed = "oft"
    elif "lycoris" in meta_module and isinstance(args.get("algo"), str):
        claimed = _ALGO_ALIASES.get(args["algo"].lower(), args["algo"].lower())
    if claimed == "dylora" and network in ("lora", "locon"):
        network = "dylora"
    elif claimed and claimed != network and {claimed, network} not in ({"lora", "locon"},):
        warnings.append(
            f"metadata says {claimed} (ss_network_module={meta_module}) but keys are {network}"
        )
    if dora and network in ("lora", "locon"):
        network = "dora"
    return network, dora, warnings


def _te_label(parts: set[str]) -> str:
    te = sorted(p for p in parts if p.startswith("te"))
    if not te:
        return "none"
    if "te" in te and len(te) > 1:
        te = sorted({"te1" if p == "te" else p for p in te})
    return "+".join(te)


def _te_hidden(mods: list[_Module]) -> int | None:
    widths = [m.in_width for m in mods if _TE_HIDDEN.search(m.path) and m.in_width]
    if not widths:
        widths = [m.in_width or 0 for m in mods] + [m.out_width or 0 for m in mods]
        widths = [w for w in widths if w in ENCODER_BY_WIDTH]
    return most_common(w for w in widths if w)


def _text_widths(mods: list[_Module]) -> list[int]:
    """Hidden widths of the text encoders the modules patch (first encoder first)."""
    first = _te_hidden([m for m in mods if m.part in ("te", "te1")])
    second = _te_hidden([m for m in mods if m.part == "te2"])
    return [w for w in (first, second) if w]


def _context_width(parsed: _Parsed) -> int | None:
    """The UNet's cross-attention context width: what the ``attn2`` key/value layers take in."""
    return most_common(
        m.in_width
        for m in parsed.modules.values()
        if m.part in ("unet", "unknown") and m.in_width and _CROSS_KV.search(m.path)
    )


def _base(parsed: _Parsed) -> tuple[Base, list[Base], str | None]:
    """(base, candidates when unknown, architecture note)."""
    mods = list(parsed.modules.values())
    unet = [m for m in mods if m.part in ("unet", "unknown")]
    paths = [m.path for m in unet]
    widths = {w for m in unet for w in (m.in_width, m.out_width) if w}

    flux = any(_FLUX_PATH.search(p) for p in paths) or any(
        m.name.startswith(("double_blocks.", "single_blocks.")) for m in unet
    )
    sd3 = any(_SD3_PATH.search(p) for p in paths)
    joint = any(_JOINT_ATTN.search(p) for p in paths)
    if flux or joint or sd3:
        if (flux or joint) and 3072 in widths:
            return Base.FLUX, [], None
        if sd3 or (joint and widths & {1536, 2432}):
            return Base.SD3, [], None
        if flux:
            hidden = most_common(w for w in widths)
            return Base.UNKNOWN, [], f"flux-like transformer (width {hidden})"
        return Base.UNKNOWN, [Base.SD3, Base.FLUX], None

    context = _context_width(parsed)
    by_context = {768: Base.SD1, 1024: Base.SD2, 2048: Base.SDXL, 1280: Base.SDXL_REFINER}
    if context in by_context:
        return by_context[context], [], None
    if context is not None:
        return Base.UNKNOWN, [], None  # a cross-attention width no family has (tiny models)
    if unet and all(not m.path for m in unet):
        # Unnamed modules (cloneofsimo): the context width shows among the inputs.
        inputs = {m.in_width for m in unet}
        for width in (2048, 1024, 768):
            if width in inputs:
                return by_context[width], [], None

    parts = {m.part for m in mods}
    te1 = [m for m in mods if m.part in ("te", "te1")]
    te2 = [m for m in mods if m.part == "te2"]
    hidden1 = _te_hidden(te1)
    hidden2 = _te_hidden(te2)
    if any(h is not None and h not in ENCODER_BY_WIDTH for h in (hidden1, hidden2)):
        return Base.UNKNOWN, [], None  # a text encoder width no family has
    if te2 and hidden2 == 1280:
        return Base.SDXL, [], None
    if "te" in parts and hidden1 == 768 and not te2:
        return Base.SD1, [], None
    if hidden1 == 1024:
        return Base.SD2, [], None

    if any(_SDXL_PATH.search(p) for p in paths):
        return Base.SDXL, [], None
    if any(_SD12_PATH.search(p) for p in paths):
        proj_in = [
            m.tensors["down"].shape for m in unet if "down" in m.tensors and _PROJ_IN.search(m.path)
        ]
        if proj_in:
            return (Base.SD1 if len(proj_in[0]) == 4 else Base.SD2), [], None
        return Base.UNKNOWN, [Base.SD1, Base.SD2], None
    if "te1" in parts and hidden1 == 768 and not unet:
        # kohya names SDXL's first encoder te1, but diffusers' converter names SD1's te1 too.
        return Base.UNKNOWN, [Base.SD1, Base.SDXL, Base.SD3, Base.FLUX], None
    if any(_UNET_WORDS.search(p) for p in paths) or parts & {"te", "te1", "te2"}:
        return Base.UNKNOWN, [Base.SD1, Base.SD2, Base.SDXL, Base.SD3, Base.FLUX], None
    # Modules of no Stable Diffusion family (video and other DiTs): no hint may settle it.
    return Base.UNKNOWN, [], "unknown model family"


def _bare_list(view: View) -> Classification | None:
    """The oldest cloneofsimo ``.pt``: a list ``[up, down, up, down, …]`` without names."""
    names = list(view.tensors)
    if not names or not all(n.isdigit() for n in names):
        return None
    ordered = [view.tensors[n] for n in sorted(names, key=int)]
    pairs = list(zip(ordered[0::2], ordered[1::2], strict=False))
    ranks: list[int] = []
    ins: list[int] = []
    for up, down in pairs:
        if len(up.shape) != 2 or len(down.shape) != 2 or up.shape[1] != down.shape[0]:
            return None
        if down.shape[0] > 256:
            return None
        ranks.append(down.shape[0])
        ins.append(down.shape[1])
    if not pairs or len(ordered) % 2:
        return None
    base = Base.UNKNOWN
    if 768 in ins:
        base = Base.SD1
    elif 1024 in ins:
        base = Base.SD2
    details: dict[str, Any] = {
        "network": "lora",
        "format": "cloneofsimo-list",
        "rank": most_common(ranks),
        "alpha": None,
        "conv_rank": None,
        "modules": len(pairs),
        "text_encoder": "none",
        "unet": True,
        "bundled_tokens": [],
        "dora": False,
        "precision": precision(ordered),
        "params": parameters(ordered),
    }
    warning = (
        "tensors have no names (an old cloneofsimo LoRA list); "
        "A1111 and ComfyUI cannot load this file"
    )
    return result(
        Kind.LORA, base, details=details, warnings=[warning], candidates=[Base.SD1, Base.SD2]
    )


def classify_lora(view: View) -> Classification | None:
    """A Classification when most tensors are LoRA-family modules, else None."""
    listed = _bare_list(view)
    if listed is not None:
        return listed
    parsed = _parse(view)
    if not parsed.modules or parsed.covered == 0:
        return None
    alphas = sum(1 for m in parsed.modules.values() for r in m.tensors if r in _ROLE_ONLY)
    if (parsed.covered + alphas + len(parsed.bundled)) * 2 < len(view.tensors):
        return None

    network, dora, warnings = _network(parsed, view)
    base, candidates, arch = _base(parsed)
    mods = list(parsed.modules.values())
    linear_ranks = [m.rank for m in mods if m.rank and not m.conv]
    conv_ranks = [m.rank for m in mods if m.rank and m.conv]
    meta = view.metadata
    alpha = number(meta.get("ss_network_alpha"))
    args = network_args(meta)
    parts = {m.part for m in mods}
    details: dict[str, Any] = {
        "network": network,
        "format": _format(parsed),
        "rank": most_common(linear_ranks) if linear_ranks else most_common(conv_ranks),
        "alpha": alpha,
        "conv_rank": most_common(conv_ranks),
        "conv_alpha": number(str(args["conv_alpha"])) if "conv_alpha" in args else None,
        "modules": len(mods),
        "text_encoder": _te_label(parts),
        "unet": bool(parts & {"unet", "unknown"}),
        "context_dim": _context_width(parsed),
        "text_widths": _text_widths(mods),
        "bundled_tokens": parsed.tokens,
        "dora": dora,
        "precision": precision(t for m in mods for t in m.tensors.values()),
        "params": parameters(view.tensors.values()),
    }
    all_ranks = linear_ranks + conv_ranks
    if all_ranks and min(all_ranks) != max(all_ranks):
        details["rank_range"] = [min(all_ranks), max(all_ranks)]
    if network in ("oft", "boft"):
        blocks = [m.tensors.get("blocks") or m.tensors.get("diag") for m in mods]
        sizes = [b.shape[-1] for b in blocks if b is not None and b.shape]
        details["block_size"] = most_common(sizes)
    if arch:
        details["architecture"] = arch
    return result(Kind.LORA, base, details=details, warnings=warnings, candidates=candidates)
