"""Qwen-Image (and Qwen-Image-Edit / -Layered, the same class): comfy.model_base.QwenImage, one kind of dual-stream
block, `transformer_blocks.{i}` (comfy/ldm/qwen_image/model.py).

Injection (method.md, "Injection", the double-block rule): a block's attention reads the modulated text only
through `add_q_proj / add_k_proj / add_v_proj`, so the patched attention passes t + s a_l P as its text input
(`encoder_hidden_states`), exactly as FLUX's `txt_attn.qkv(t + s a_l P)`. The text comes first in the joint
attention and is exactly the K rows of the CONDITIONING the pack builds.

Text: Qwen2.5-VL-7B's last hidden states (3584 wide) with the chat template cut off; the empty text is 5 tokens,
not padded, unmasked (ComfyUI drops an all-ones mask), and causal, so it does not depend on what follows: the
pack zero-pads it to K, and the zero rows reach every block as the text projection's bias, rows a prompt writes
into. The VAE is Wan 2.1's video VAE, each image encoded as a one-frame clip (Arch.video_vae). No official prompts,
so new prompts are timed with the continuous t.
"""
from __future__ import annotations

from ..injection import PromptState
from .base import Family, closure_value, gated_patches

_ABSENT = object()


class _TextAttention:
    """The block's joint attention with text input t + s a_l P (the image stream is untouched)."""

    def forward(self, hidden_states, encoder_hidden_states=None, *args, **kwargs):
        st: PromptState = self._unlock_state
        if st.active is not None:
            st.check_tokens(encoder_hidden_states.shape[1], "Qwen-Image block")
            encoder_hidden_states = encoder_hidden_states + st.scaled(self._unlock_block, encoder_hidden_states)
        return super().forward(hidden_states, encoder_hidden_states, *args, **kwargs)


class QwenImage(Family):
    arch = "qwen_image"
    host_class = "QwenImage"
    user_name = "Qwen-Image (and -Edit)"
    replace_kinds = ("double_block",)  # the host's patches_replace["dit"] name for its blocks

    def layout(self, dm):
        return dm.inner_dim, {"blocks": len(dm.transformer_blocks)}

    def block_modules(self, dm):
        return {"blocks": list(dm.transformer_blocks)}

    def object_patches(self, patcher, state, blocks):
        return gated_patches(patcher, state, "diffusion_model.transformer_blocks.{i}.attn", blocks["blocks"],
                             _TextAttention)

    def run_block(self, kind, block, a, kwargs):
        txt, img = block(hidden_states=a["img"], encoder_hidden_states=a["txt"], temb=a["vec"],
                         image_rotary_emb=a["pe"], transformer_options=a["transformer_options"], **kwargs)
        return img, txt

    def block_kwargs(self, original_block):
        # The host's block_wrap reads the text mask (and, on v0.20.1, the reference-latent timestep split) from
        # its loop's closure.
        kwargs = {"encoder_hidden_states_mask": closure_value(original_block, "encoder_hidden_states_mask", None)}
        zero_index = closure_value(original_block, "timestep_zero_index", _ABSENT)
        if zero_index is not _ABSENT:
            kwargs["timestep_zero_index"] = zero_index
        return kwargs


FAMILY = QwenImage()
FAMILIES = (FAMILY,)
