"""Z-Image (Turbo and Base): comfy.model_base.Lumina2 loaded with the ZImage config (Lumina 2's NextDiT at width
3840; comfy/ldm/lumina/model.py). Lumina Image 2.0 and NewBie share the class with other text encoders and
widths, and are not this family.

Text path: Qwen3-4B's hidden states -> cap_embedder -> padded by the model with its own token to a multiple of 32
-> two text-only context_refiner layers -> the caption first in 30 joint single-stream `layers` over
[caption, image].

Injection (method.md, "Injection", the single-block rule): a joint layer reads its modulated input through one
`attention.qkv` projection, so the caption's first K rows of that input become t + s a_l P (the feed-forward input
is unchanged, as FLUX's linear1 MLP columns are). With K a multiple of 32 (128 by default) the caption is exactly
the K rows of the pack's CONDITIONING.

Checkpointing: the layer loop has no patches_replace entry, so each layer is wrapped by an object patch
(`checkpoint_keys`), which nodes/training.py fills with a re-entrant checkpoint of the layer's own forward.
"""
from __future__ import annotations

from ..injection import TextRowsInput
from .base import Family, gated_patches


class _CaptionQKV(TextRowsInput):
    """A joint layer's qkv projection: the first K (caption) rows of its input read t + s a_l P."""

    where = "Z-Image layer"


def _unfused() -> dict:
    """Attributes the patched qkv needs on this host. Late-2026 hosts fuse a layer's RMS norm, modulation and qkv
    for INT8 (ConvRot) checkpoints into one kernel that never calls `attention.qkv` (comfy/ldm/lumina/model.py,
    `_fused_rms_modulated_linear`), which would skip the prompt silently; they leave that fusion out for a Linear
    with `comfy_force_cast_weights`, which then runs through the host's ordinary cast path. Hosts without the
    fusion (v0.20.1) get nothing, so their fp8 / quantized paths are unchanged."""
    import comfy.ldm.lumina.model

    return {"comfy_force_cast_weights": True} if hasattr(comfy.ldm.lumina.model, "_fused_rms_modulated_linear") else {}


class ZImage(Family):
    arch = "z_image"
    host_class = "Lumina2"
    user_name = "Z-Image (Turbo, Base)"

    def detect(self, base) -> bool:
        # The exact model class and the exact loader config: ZImage (not Lumina 2.0's, nor ZImagePixelSpace's).
        config = getattr(base, "model_config", None)
        return super().detect(base) and type(config).__name__ == "ZImage"

    def layout(self, dm):
        return dm.dim, {"layers": len(dm.layers)}

    def block_modules(self, dm):
        return {"layers": list(dm.layers)}

    def object_patches(self, patcher, state, blocks):
        return gated_patches(patcher, state, "diffusion_model.layers.{i}.attention.qkv", blocks["layers"], _CaptionQKV,
                             **_unfused())

    def checkpoint_keys(self, blocks):
        return [f"diffusion_model.layers.{i}" for i in range(blocks["layers"])]


FAMILY = ZImage()
FAMILIES = (FAMILY,)
