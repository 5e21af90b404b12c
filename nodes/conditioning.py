"""The CONDITIONING a restoration prompt is used with: the encoded empty prompt, exactly K tokens."""
from __future__ import annotations

import logging

import torch


log = logging.getLogger("unlock_restore")
ENCODERS = {"flux": "t5xxl + clip_l (DualCLIPLoader, type flux)", "wan21": "umt5_xxl (Load CLIP, type wan)",
            "wan22": "umt5_xxl (Load CLIP, type wan)"}


def fit_tokens(context: torch.Tensor, k: int, arch: str) -> torch.Tensor:
    """Cut or pad a (B, L, 4096) text encoding to K tokens the way the official code sees it.

    Wan: ComfyUI's umT5 output is zero beyond the real tokens (it pads to >= 512), and diffusers zeroes padding,
    so cutting to K=226 (or zero-padding) reproduces the official context exactly.
    FLUX: the official encoding is T5 over 512 tokens of padding; ComfyUI pads to >= 256. Cutting is exact for
    the tokens kept; padding repeats the last (padding) token's encoding, a close approximation.
    """
    length = context.shape[1]
    if length == k:
        return context
    if length > k:
        return context[:, :k]
    if arch == "flux":
        log.info("unlock-restore: text encoding has %d tokens, padded to K=%d by repeating its last token", length, k)
        fill = context[:, -1:].expand(-1, k - length, -1)
    else:
        fill = context.new_zeros(context.shape[0], k - length, context.shape[2])
    return torch.cat([context, fill], dim=1)


def encoded_null_context(node: str, conditioning: list, k: int, arch: str):
    """A connected empty-text CONDITIONING as a null context: ((K, 4096) float32 on CPU, cut or padded as the
    official code sees it; FLUX's pooled (768,) vector or None). Shared by Apply, Import and Train."""
    if len(conditioning) == 0:
        raise ValueError(f"{node}: the connected CONDITIONING is empty. Connect the output of CLIP Text Encode "
                         "with an empty text, or disconnect it to use the prompt's stored null context.")
    context, extra = conditioning[0][0], conditioning[0][1]
    if context.shape[-1] != 4096:
        raise ValueError(f"{node}: the connected CONDITIONING is {context.shape[-1]} wide, but FLUX and Wan "
                         f"use a 4096-wide text encoder. Encode the empty text with {ENCODERS[arch]}.")
    pooled = extra.get("pooled_output") if arch == "flux" else None
    return (fit_tokens(context[:1].float().cpu(), k, arch)[0],
            pooled[0].float().cpu() if pooled is not None else None)


def prompt_conditioning(node: str, prompt, conditioning=None, strength: float = 1.0) -> list:
    """CONDITIONING for sampling with `prompt`: its null context (or the connected encoding, fitted to K), for
    FLUX with the pooled vector and guidance 1.0; in context mode with the learned residual added."""
    k = prompt.tokens
    if conditioning is not None:
        context, pooled = encoded_null_context(node, conditioning, k, prompt.arch)
    elif prompt.null_context is not None:
        context, pooled = prompt.null_context.float(), prompt.pooled
    else:
        raise ValueError(
            f"{node}: this restoration prompt ({prompt.provenance.get('source', 'no source')}) has no stored null "
            f"context (official prompt files do not include it). Connect a CONDITIONING input: CLIP Text Encode "
            f"with an EMPTY text, encoded with {ENCODERS[prompt.arch]}. Or re-import the prompt with 'Import "
            f"Official Restoration Prompt' and that encoding connected, so it is stored in the file.")
    context = context.unsqueeze(0)
    if getattr(prompt, "mode", None) == "context":  # a mixture adds its context residuals per evaluation
        context = context + float(strength) * prompt.prompt.float().unsqueeze(0)
    if prompt.arch == "flux":
        if pooled is None:
            raise ValueError(f"{node}: FLUX needs the empty prompt's pooled CLIP-L vector, and neither the prompt "
                             f"nor the connected CONDITIONING has one. Encode the empty text with "
                             f"{ENCODERS['flux']}.")
        return [[context, {"pooled_output": pooled.float().unsqueeze(0), "guidance": float(prompt.guidance or 1.0)}]]
    return [[context, {}]]


__all__ = ["encoded_null_context", "fit_tokens", "prompt_conditioning"]
