"""What a loaded MODEL is, in the terms a restoration prompt is checked against (family, width, blocks)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

import comfy.model_sampling

from ..prompt_embeds import ARCHS
from ..prompt_embeds.archs import blocks_text
from .families import Family, detect, supported_text


@dataclass
class ModelInfo:
    arch: str | None          # "flux" | "wan21" | "wan22" | None (unsupported)
    label: str                # the family as a user reads it (for an unsupported model: what it is and why)
    width: int | None
    blocks: dict
    family: Family | None = None  # the family module that drives it (None: unsupported)
    text_width: int | None = None  # the width of the text encoding it is conditioned on

    def describe(self) -> str:
        if self.arch is None:
            return self.label
        return f"{self.label} (width {self.width}, {blocks_text(self.blocks)})"


# The host classes (comfy.model_base) this pack supports are its families' (nodes/families/), each detected by its
# exact class: a subclass is another family (FLUX.2, LongCat-Image and Chroma subclass Flux; Wan VACE, Camera,
# HuMo, S2V, Animate, CausalAR, FlowRVS, SCAIL and WanDancer subclass WAN21), whose text stream, token layout or
# sampling differ, so an isinstance check would let a prompt into a model it cannot drive.
# The model families named in refusals (class name -> what a user calls it); others show their class name.
FAMILY_NAMES = {
    "Flux": "FLUX.1", "WAN21": "Wan 2.1", "WAN22": "Wan 2.2",
    "Flux2": "FLUX.2", "LongCatImage": "LongCat-Image", "Chroma": "Chroma", "ChromaRadiance": "Chroma Radiance",
    "WAN21_Vace": "Wan VACE", "WAN21_Camera": "Wan Fun Camera", "WAN21_HuMo": "Wan HuMo", "WAN22_S2V": "Wan 2.2 S2V",
    "WAN22_Animate": "Wan 2.2 Animate", "WAN21_CausalAR": "Wan causal (autoregressive)",
    "WAN21_FlowRVS": "Wan FlowRVS", "WAN21_SCAIL": "Wan SCAIL", "WAN22_WanDancer": "Wan WanDancer",
    "QwenImage": "Qwen-Image", "Lumina2": "Lumina Image 2.0", "HunyuanVideo": "HunyuanVideo",
    "HunyuanVideo15": "HunyuanVideo 1.5", "HunyuanVideo15_SR_Distilled": "HunyuanVideo 1.5 super-resolution",
    "HunyuanImage21": "HunyuanImage 2.1", "SD3": "Stable Diffusion 3", "SDXL": "SDXL",
    "BaseModel": "Stable Diffusion 1.x",
    "LTXV": "LTX-Video", "CosmosPredict2": "Cosmos Predict2", "HiDream": "HiDream", "AuraFlow": "AuraFlow",
}
# Sampling the bridge needs: plain flow matching (comfy.model_sampling.CONST: x_s = s e + (1 - s) x0). Other
# ModelTypes (e.g. IMG_TO_IMG_FLOW, whose noise_scaling returns the latent unchanged) are not a bridge start.
FLOW_MODEL_TYPES = {"FLOW", "FLUX"}
SUPPORTED_TEXT = supported_text()
SUPPORTED_MODELS_HINT = f"one of the supported families: {SUPPORTED_TEXT}"  # for MODEL inputs' tooltips


def family_name(base) -> str:
    """What a user calls the family of a loaded model (comfy.model_base object)."""
    name = type(base).__name__
    image_model = (getattr(getattr(base, "model_config", None), "unet_config", None) or {}).get("image_model")
    label = FAMILY_NAMES.get(name, name)
    return f"{label} ({name}{', ' + image_model if image_model else ''})"


def model_info(patcher) -> ModelInfo:
    base = patcher.model
    family = detect(base)
    model_type = getattr(getattr(base, "model_type", None), "name", None)
    if family is not None and model_type not in FLOW_MODEL_TYPES:
        return ModelInfo(None, f"{family_name(base)} with {model_type} sampling, which is not the flow matching the "
                               "diffusion bridge needs", None, {})
    if family is None:
        return ModelInfo(None, f"{family_name(base)}, a family unlock-restore does not support", None, {})
    dm = patcher.get_model_object("diffusion_model")
    width, blocks = family.layout(dm)
    return ModelInfo(family.arch, family.spec.label, width, blocks, family, family.text_width(dm))


def is_plain_flow(sampling) -> bool:
    """True for a model_sampling object that is plain flow matching: comfy.model_sampling.CONST itself, not a
    subclass of it (IMG_TO_IMG_FLOW subclasses CONST but starts from the latent unchanged). The object's own class
    is the host's mix of a schedule class and a type class, so only the classes it is built from are checked."""
    const = comfy.model_sampling.CONST
    mro = type(sampling).__mro__
    return const in mro and not any(issubclass(c, const) and c is not const for c in mro[1:])


def sampling_type(sampling) -> str:
    """The sampling type a model_sampling object is built from (e.g. CONST, IMG_TO_IMG_FLOW), for messages."""
    # The host builds model_sampling from a schedule class (an nn.Module) and a type class (a plain class).
    kinds = [c.__name__ for c in type(sampling).__mro__[1:]
             if c is not object and not issubclass(c, torch.nn.Module)]
    return kinds[0] if kinds else type(sampling).__name__


def unsupported_message(node: str, info: ModelInfo, doing: str = "Restoration prompts work") -> str:
    return (f"{node}: the connected MODEL is {info.label}. {doing} with {SUPPORTED_TEXT} models only; load one with "
            "Load Diffusion Model (UNETLoader). Support for more families is planned; until then this model cannot "
            "be used here.")


def prompt_text(prompt) -> str:
    label = ARCHS[prompt.arch].label
    if prompt.mode == "context":
        return f"{label} (context mode)"
    return f"{label} (width {prompt.width}, {blocks_text(prompt.blocks)})"


def check_prompt_fits(node: str, prompt, info: ModelInfo, what: str = "restoration prompt") -> None:
    """Raise a clear error when a prompt cannot drive this model: family, width or block count."""
    if info.arch is None:
        raise ValueError(unsupported_message(node, info))
    # Families of one group share one architecture (ComfyUI loads Wan 2.2 A14B experts as Wan 2.1-type models), so
    # within a group the shape (width, blocks) decides, not the label.
    same_family = prompt.arch == info.arch or ARCHS[prompt.arch].group == ARCHS[info.arch].group
    fits = same_family and (prompt.mode == "context"
                            or (prompt.width == info.width and dict(prompt.blocks) == info.blocks))
    if not fits:
        raise ValueError(
            f"{node}: this {what} was made for {prompt_text(prompt)}, but the connected MODEL is "
            f"{info.describe()}. Load a prompt made for this model, or connect the model the prompt was made "
            f"for{'' if same_family else ' (' + ARCHS[prompt.arch].label + ')'}.")
    # Where a family's text width differs between its models (FLUX.2), the prompt's own null context (and a context
    # prompt) must have this model's.
    widths = [t.shape[-1] for t in (prompt.null_context, prompt.prompt if prompt.mode == "context" else None)
              if t is not None]
    if info.text_width is not None and any(w != info.text_width for w in widths):
        raise ValueError(
            f"{node}: this {what} was made with a {widths[0]}-wide text encoding, but the connected "
            f"{info.label} model reads {info.text_width}-wide text ({ARCHS[info.arch].encoder}): it was made for "
            "another model of the family. Load a prompt made for this model, or train one for it.")


def compute_dtype(patcher) -> torch.dtype:
    """The dtype the model's activations are computed in: the manual-cast dtype when weights are stored in
    another (fp8 files), else the weights' own; 8-bit storage without a cast computes in bf16 at the least."""
    base = patcher.model
    dtype = getattr(base, "manual_cast_dtype", None) or base.get_dtype()
    return dtype if torch.finfo(dtype).bits > 8 else torch.bfloat16


def check_prompt_range(node: str, prompt, strength: float, patcher, what: str = "restoration prompt") -> None:
    """Refuse a prompt whose injected values overflow the dtype this model computes in (they would turn every
    output into NaN/Inf)."""
    dtype = compute_dtype(patcher)
    peak, limit = prompt.injected_peak(strength), float(torch.finfo(dtype).max)
    if not peak < limit:
        raise ValueError(
            f"{node}: this {what} adds values up to {peak:.3g} (prompt x gate x strength {strength}) but the model "
            f"computes in {str(dtype).replace('torch.', '')}, whose largest value is {limit:.3g}: it would overflow "
            "and every output would be NaN/Inf. Lower strength, run the model in a wider dtype (weight_dtype "
            "default), or use another prompt file (an earlier checkpoint of it, if training diverged).")
