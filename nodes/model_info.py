"""What a loaded MODEL is, in the terms a restoration prompt is checked against (family, width, blocks)."""
from __future__ import annotations

from dataclasses import dataclass

import comfy.model_base

from ..prompt_embeds import ARCHS
from ..prompt_embeds.archs import blocks_text


@dataclass
class ModelInfo:
    arch: str | None          # "flux" | "wan21" | "wan22" | None (unsupported)
    label: str
    width: int | None
    blocks: dict

    def describe(self) -> str:
        if self.arch is None:
            return self.label
        return f"{self.label} (width {self.width}, {blocks_text(self.blocks)})"


def model_info(patcher) -> ModelInfo:
    base = patcher.model
    dm = patcher.get_model_object("diffusion_model")
    if isinstance(base, comfy.model_base.Flux) and not isinstance(base, comfy.model_base.Chroma):
        return ModelInfo("flux", ARCHS["flux"].label, dm.hidden_size,
                         {"double": len(dm.double_blocks), "single": len(dm.single_blocks)})
    if isinstance(base, comfy.model_base.WAN21) and hasattr(dm, "blocks"):
        arch = "wan22" if isinstance(base, comfy.model_base.WAN22) else "wan21"
        return ModelInfo(arch, ARCHS[arch].label, dm.dim, {"blocks": len(dm.blocks)})
    return ModelInfo(None, f"{type(base).__name__} (not FLUX or Wan)", None, {})


def prompt_text(prompt) -> str:
    label = ARCHS[prompt.arch].label
    if prompt.mode == "context":
        return f"{label} (context mode)"
    return f"{label} (width {prompt.width}, {blocks_text(prompt.blocks)})"


def check_prompt_fits(node: str, prompt, info: ModelInfo, what: str = "restoration prompt") -> None:
    """Raise a clear error when a prompt cannot drive this model: family, width or block count."""
    if info.arch is None:
        raise ValueError(f"{node}: the connected MODEL is {info.label}. Restoration prompts work with FLUX and "
                         f"Wan models; load one with Load Diffusion Model.")
    # Wan 2.1 and 2.2 share one architecture: ComfyUI loads Wan 2.2 A14B experts as Wan 2.1-type models, so
    # within Wan the shape (width, blocks) decides, not the label.
    same_family = prompt.arch == info.arch or {prompt.arch, info.arch} <= {"wan21", "wan22"}
    fits = same_family and (prompt.mode == "context"
                            or (prompt.width == info.width and dict(prompt.blocks) == info.blocks))
    if not fits:
        raise ValueError(
            f"{node}: this {what} was made for {prompt_text(prompt)}, but the connected MODEL is "
            f"{info.describe()}. Load a prompt made for this model, or connect the model the prompt was made "
            f"for{'' if same_family else ' (' + ARCHS[prompt.arch].label + ')'}.")
