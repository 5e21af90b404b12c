"""Wan 2.1 and Wan 2.2 text-to-video (comfy.model_base.WAN21 / WAN22): one kind of block with cross-attention.

Injection (method.md, "Injection"): cross_attn(x, c) + s a_l cross_attn(x, c + P), c the context after Wan's text
projection. ComfyUI loads the Wan 2.2 A14B experts as WAN21 models; 2.1 and 2.2 prompts share one group (the
shape decides), and the TI2V-5B model is WAN22. The A14B expert switch (sigma 0.875) is the wan21 Arch's
`expert_boundary`; the two-expert sampling that uses it is nodes/experts.py (any family whose Arch sets one).
"""
from __future__ import annotations

from ..injection import PromptState
from .base import Family, closure_value, gated_patches


class _WanCrossAttn:
    """out = attn(x, c) + s a_l attn(x, c + P)."""

    def forward(self, x, context, *args, **kwargs):
        st: PromptState = self._unlock_state
        base = super().forward(x, context, *args, **kwargs)
        if st.active is None:
            return base
        st.check_tokens(context.shape[1], "Wan block")
        extra = super().forward(x, context + st.plain(context), *args, **kwargs)
        return base + st.gate(self._unlock_block) * extra


class Wan(Family):
    replace_kinds = ("double_block",)  # the host's patches_replace["dit"] name for a Wan block
    user_name = "Wan 2.1 / 2.2 text-to-video"

    def __init__(self, arch: str, host_class: str):
        self.arch, self.host_class = arch, host_class

    def layout(self, dm):
        return dm.dim, {"blocks": len(dm.blocks)}

    def block_modules(self, dm):
        return {"blocks": list(dm.blocks)}

    def object_patches(self, patcher, state, blocks):
        return gated_patches(patcher, state, "diffusion_model.blocks.{i}.cross_attn", blocks["blocks"], _WanCrossAttn)

    def run_block(self, kind, block, a, kwargs):
        return (block(a["img"], context=a["txt"], e=a["vec"], freqs=a["pe"],
                      transformer_options=a["transformer_options"], **kwargs),)

    def block_kwargs(self, original_block):
        # Wan's `context_img_len` (None for text-to-video), rebound by the host's loop per block.
        return {"context_img_len": closure_value(original_block, "context_img_len", None)}


WAN21 = Wan("wan21", "WAN21")
WAN22 = Wan("wan22", "WAN22")
FAMILIES = (WAN21, WAN22)
