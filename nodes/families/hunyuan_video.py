"""HunyuanVideo 1.5 (480p / 720p, text- and image-to-video, and their fp8 / GGUF files): comfy.model_base.
HunyuanVideo15 (comfy/ldm/hunyuan_video/model.py), 54 of FLUX.1's double-stream blocks and no single-stream ones.
The super-resolution model (HunyuanVideo15_SR_Distilled, a subclass) and HunyuanVideo 1.0 are other families.

Text path: Qwen2.5-VL-7B's hidden states (3584 wide) -> `txt_in` (a token refiner) -> the text stream. The model
then puts other tokens in front of them: byT5's glyph tokens (only for quoted text in the prompt) and the vision
tokens of an image-to-video image (only with a CLIP vision output), so the text stream of a block is
[vision, byT5, LLM] and the LLM's K tokens are its last K rows, not its first.

Injection (method.md, "Injection", the double-block rule): each block's text-stream qkv projection reads
t + s a_l P on those last K rows; prefix rows are unchanged. `txt_in`, which sees the LLM tokens alone, checks that
there are exactly K of them, so a text encoding of another length stops with a clear error instead of moving the
prompt onto other rows.
"""
from __future__ import annotations

from ..injection import PromptState, TextRowsInput, gated_copy
from .base import EmptyPooled, Family, gated_patches


class _LLMTokens:
    """The token refiner: the LLM text must be the prompt's K rows (its output is the end of the text stream)."""

    def forward(self, x, *args, **kwargs):
        st: PromptState = self._unlock_state
        if st.active is not None:
            st.check_tokens(x.shape[1], "HunyuanVideo 1.5 text input")
        return super().forward(x, *args, **kwargs)


class _TextQKV(TextRowsInput):
    """Double block: the text stream's qkv projection sees t + s a_l P on its last K (LLM) rows."""

    last = True
    where = "HunyuanVideo 1.5 double block"


class HunyuanVideo15(EmptyPooled, Family):  # no vector_in; encode_adm reads the key
    arch = "hunyuan_video15"
    host_class = "HunyuanVideo15"
    user_name = "HunyuanVideo 1.5"
    replace_kinds = ("double_block",)

    def detect(self, base) -> bool:
        # The released models have no single-stream blocks, and the pack places no prompt in them: a file with
        # some is not this family's layout.
        dm = getattr(base, "diffusion_model", None)
        return super().detect(base) and len(getattr(dm, "single_blocks", ())) == 0

    def layout(self, dm):
        return dm.hidden_size, {"double": len(dm.double_blocks)}

    def block_modules(self, dm):
        return {"double": list(dm.double_blocks)}

    def object_patches(self, patcher, state, blocks):
        check = {"diffusion_model.txt_in": gated_copy(patcher.get_model_object("diffusion_model.txt_in"),
                                                      _LLMTokens, state, -1)}
        return {**check, **gated_patches(patcher, state, "diffusion_model.double_blocks.{i}.txt_attn.qkv",
                                         blocks["double"], _TextQKV)}

    def run_block(self, kind, block, a, kwargs):
        return block(img=a["img"], txt=a["txt"], vec=a["vec"], pe=a["pe"], attn_mask=a.get("attention_mask"),
                     modulation_dims_img=a.get("modulation_dims_img"),
                     modulation_dims_txt=a.get("modulation_dims_txt"), transformer_options=a.get("transformer_options"))


FAMILY = HunyuanVideo15()
FAMILIES = (FAMILY,)
