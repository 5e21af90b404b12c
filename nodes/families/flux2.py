"""FLUX.2 (dev, klein 4B / 9B and their fp8 / GGUF files): comfy.model_base.Flux2, a subclass of Flux.

The blocks are FLUX.1's kinds with the same module paths (comfy/ldm/flux/layers.py): the double block's text
stream enters attention through `txt_attn.qkv`, and a single block's `linear1` holds the qkv columns first
(`[3 h | gated MLP in]`), so FLUX.1's injection points and block calls apply unchanged; the modulation is global
(one tuple `vec` for every block), which the host passes through the same replace args.

What differs is the text: an LLM's hidden states (three layers concatenated, so the width is 3x the LLM's and is
read from `txt_in`), which the model left-pads with zeros to 512 tokens (comfy/model_base.py Flux2.extra_conds).
The text segment of every block is therefore exactly 512 rows with the real tokens last, and a prompt covers all
512 (K is fixed; conditioning.fit_tokens pads in front, as the model does). No pooled vector; guidance 1.0 is
passed (the dev model reads it, klein has no guidance input); no official prompts, so new prompts are timed with
the continuous t.
"""
from __future__ import annotations

from .flux import Flux1


class Flux2(Flux1):
    arch = "flux2"
    host_class = "Flux2"
    user_name = "FLUX.2 (dev, klein)"

    def text_width(self, dm):
        return int(dm.txt_in.weight.shape[1])  # context_in_dim: 3 x the LLM's hidden width

    def conditioning_extras(self, pooled, guidance):
        return {"guidance": float(guidance if guidance is not None else self.spec.guidance)}

    def model_extras(self, pooled, batch, device):
        return {"guidance": self.spec.guidance}


FAMILY = Flux2()
FAMILIES = (FAMILY,)
