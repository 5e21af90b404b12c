"""Chroma (Chroma1-HD and its fp8 / GGUF files): comfy.model_base.Chroma, a subclass of Flux with FLUX.1's double
and single stream blocks (the same modules on v0.20.1; Chroma's own copies with the same qkv / linear1 layout on
v0.3.64), modulated by one distilled approximator instead of per-block modulation.

The injection points and the block calls are FLUX.1's; what differs is the conditioning: T5-XXL only, no pooled
vector and no guidance input the prompt needs (the host's Chroma default, guidance 0, is what it samples with),
and no official prompts, so new prompts are timed with the continuous t.
"""
from __future__ import annotations

from .base import EmptyPooled
from .flux import Flux1


class Chroma(EmptyPooled, Flux1):  # no pooled vector: v0.3.64's Flux.encode_adm reads the key
    arch = "chroma"
    host_class = "Chroma"  # not ChromaRadiance (a pixel-space subclass: its own family, chroma_radiance.py)
    user_name = "Chroma"


FAMILY = Chroma()
FAMILIES = (FAMILY,)
