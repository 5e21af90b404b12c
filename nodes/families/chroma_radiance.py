"""Chroma Radiance (Chroma1-Radiance): comfy.model_base.ChromaRadiance, Chroma's transformer working on RGB pixels
(comfy/ldm/chroma_radiance/model.py): 16 x 16 pixel patches in, a small NeRF-style head out, and no VAE (VAE
Loader's `pixel_space` entry). Its blocks are Chroma's and it runs Chroma's own block loop (`forward_orig`), so the
injection, checkpointing and conditioning are Chroma's; only the weights differ, so its prompts are its own.
"""
from __future__ import annotations

from .chroma import Chroma


class ChromaRadiance(Chroma):
    arch = "chroma_radiance"
    host_class = "ChromaRadiance"
    user_name = "Chroma Radiance"


FAMILY = ChromaRadiance()
FAMILIES = (FAMILY,)
