"""FLUX.1 (dev, schnell and their fp8 / GGUF files): comfy.model_base.Flux, double and single stream blocks.

Injection (method.md, "Injection"):
  double block: txt_attn.qkv(t + s a_l P)            (the text-stream attention input)
  single block: linear1(x) + [s a_l W_qkv P on the K text tokens, qkv columns only]   (MLP input unchanged)
The text tokens come first in the joint sequence of a single block, so the first K rows are the prompt's.
"""
from __future__ import annotations

import torch

from ..injection import PromptState
from .base import Family, closure_value, gated_patches


class _DoubleQKV:
    """Double block: the text stream's qkv projection sees t + s a_l P."""

    def forward(self, x, *args, **kwargs):
        st: PromptState = self._unlock_state
        if st.active is None:
            return super().forward(x, *args, **kwargs)
        st.check_tokens(x.shape[1], "FLUX double block")
        return super().forward(x + st.scaled(self._unlock_block, x), *args, **kwargs)


class _SingleLinear1:
    """Single block: only the qkv columns of linear1 change, only for the first K (text) tokens.
    By linearity qkv(t + s a P) = qkv(t) + W_qkv (s a P). The delta is computed through the module itself on every
    forward, from K + 1 rows (s a P, and one zero row that gives the bias to subtract), so every weight mechanism
    the host or a pack uses (fp8 casts, LoRA as weight patches, lowvram/dynamic-VRAM weight functions, GGUF
    dequantisation with its patches) applies exactly as it does to the block's own input. Nothing is cached: a
    cache keyed on the weight tensor went stale when a patch changed the weight without replacing the tensor."""

    def forward(self, x, *args, **kwargs):
        out = super().forward(x, *args, **kwargs)
        st: PromptState = self._unlock_state
        if st.active is None:
            return out
        k, qkv_width = st.tokens, 3 * self._unlock_hidden
        if x.shape[1] < k:
            st.check_tokens(x.shape[1], "FLUX single block")
        # In place on the fresh output: linear's backward does not need its output, so autograd stays exact.
        out[:, :k, :qkv_width] += self._unlock_delta(x)
        return out

    def _unlock_delta(self, x):
        scaled = self._unlock_state.scaled(self._unlock_block, x)  # (1, K, D)
        rows = super().forward(torch.cat([scaled, torch.zeros_like(scaled[:, :1])], dim=1))  # (1, K + 1, out)
        k = scaled.shape[1]
        return (rows[:, :k] - rows[:, k:])[..., :3 * self._unlock_hidden]  # W (s a P): the bias cancels


class Flux1(Family):
    arch = "flux"
    host_class = "Flux"
    user_name = "FLUX.1 (dev, schnell and their fp8/GGUF files)"
    replace_kinds = ("double_block", "single_block")

    def layout(self, dm):
        return dm.hidden_size, {"double": len(dm.double_blocks), "single": len(dm.single_blocks)}

    def block_modules(self, dm):
        return {"double": list(dm.double_blocks), "single": list(dm.single_blocks)}

    # `patcher.get_model_object(key)` is the module as this clone will see it (an earlier object patch included).
    def object_patches(self, patcher, state, blocks):
        hidden = patcher.get_model_object("diffusion_model").hidden_size
        return {**gated_patches(patcher, state, "diffusion_model.double_blocks.{i}.txt_attn.qkv", blocks["double"],
                                _DoubleQKV),
                **gated_patches(patcher, state, "diffusion_model.single_blocks.{i}.linear1", blocks["single"],
                                _SingleLinear1, first_gate=blocks["double"], _unlock_hidden=hidden)}

    def run_block(self, kind, block, a, kwargs):
        if kind == "double_block":
            img, txt = block(img=a["img"], txt=a["txt"], vec=a["vec"], pe=a["pe"], attn_mask=a.get("attn_mask"),
                             transformer_options=a.get("transformer_options"), **kwargs)
            return img, txt
        return (block(a["img"], vec=a["vec"], pe=a["pe"], attn_mask=a.get("attn_mask"),
                      transformer_options=a.get("transformer_options"), **kwargs),)

    def block_kwargs(self, original_block):
        # The host's `**extra_kwargs` (e.g. modulation_dims_img on v0.20.1; none on v0.3.64).
        return dict(closure_value(original_block, "extra_kwargs", {}) or {})

    def conditioning_extras(self, pooled, guidance):
        return {"pooled_output": pooled, "guidance": float(guidance if guidance is not None else self.spec.guidance)}

    def model_extras(self, pooled, batch, device):
        return {"pooled_output": pooled.to(device).unsqueeze(0).expand(batch, -1), "guidance": self.spec.guidance}


FAMILY = Flux1()
FAMILIES = (FAMILY,)
