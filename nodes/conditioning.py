"""The CONDITIONING a restoration prompt is used with: the encoded empty prompt, exactly K tokens."""
from __future__ import annotations

import logging

import torch

from ..prompt_embeds import ARCHS
from .families import family as family_of

log = logging.getLogger("unlock_restore")


def fit_tokens(context: torch.Tensor, k: int, arch: str) -> torch.Tensor:
    """Cut or pad a (B, L, 4096) text encoding to K tokens the way the official code sees it.

    Wan: ComfyUI's umT5 output is zero beyond the real tokens (it pads to >= 512), and diffusers zeroes padding,
    so cutting to K=226 (or zero-padding) reproduces the official context exactly.
    FLUX: the official encoding is T5 over exactly K (512) tokens with no attention mask, so every row depends on
    the total length; ComfyUI pads to >= 256. Only an encoding of exactly K tokens is exact (a CLIP input encodes
    one, see `clip_null_context`); otherwise padding repeats the last (padding) token's encoding and cutting
    keeps rows computed at another length: an approximation (`length_note` says so).
    """
    length = context.shape[1]
    if length == k:
        return context
    if length > k:
        return context[:, :k]
    if ARCHS[arch].pad_left:  # FLUX.2: the model itself pads shorter text with zero rows in front, so this is exact
        return torch.cat([context.new_zeros(context.shape[0], k - length, context.shape[2]), context], dim=1)
    if ARCHS[arch].null_length_option is not None:  # unmasked encoder: padding rows are encoded, not zero
        log.info("unlock-restore: text encoding has %d tokens, padded to K=%d by repeating its last token", length, k)
        fill = context[:, -1:].expand(-1, k - length, -1)
    else:
        fill = context.new_zeros(context.shape[0], k - length, context.shape[2])
    return torch.cat([context, fill], dim=1)


def length_note(node: str, length: int, k: int, arch: str) -> str | None:
    """What a connected CONDITIONING of `length` tokens changes for a prompt of K tokens (None: nothing)."""
    if length == k or ARCHS[arch].null_length_option is None:
        return None  # Wan: umT5 zeroes its padding, so cutting or zero-padding is exact
    spec = ARCHS[arch]
    how = (f"rows {length + 1}-{k} repeat its last row" if length < k else f"it is cut to the first {k} rows")
    return (f"{node}: the connected CONDITIONING has {length} text tokens but this prompt uses {k}: {how}, and "
            f"because {spec.label}'s {spec.encoder_name} encodes the empty text without a mask, every row depends "
            f"on the length, so the null context differs from the official one ({spec.encoder_name}(\"\") over "
            f"exactly {k} tokens) in every row. For the exact null context connect the CLIP ({spec.encoder}) to "
            f"this node's clip input instead of the CONDITIONING.")


def _check_width(node: str, what: str, width: int, arch: str, text_width: int | None) -> None:
    """The encoding is as wide as the model's text input (`text_width`, from the model) or the family's."""
    want = text_width if text_width is not None else ARCHS[arch].text_width
    if want is not None and width != want:
        raise ValueError(f"{node}: the connected {what} encodes text {width} wide, but this {ARCHS[arch].label} "
                         f"model reads {want}-wide text. Connect {ARCHS[arch].encoder}.")


def _check_tokenizer(node: str, clip, arch: str) -> None:
    """Where the token streams do not tell two families' encoders apart (`Arch.tokenizer`), the CLIP's tokenizer
    class must be this family's: the same weights loaded for another family encode another template."""
    want = ARCHS[arch].tokenizer
    if want is None:
        return
    cls = type(getattr(clip, "tokenizer", None))
    # The host's own class: the first of the MRO in ComfyUI's comfy package (another pack's subclass counts as its
    # host base). Exact, not a subclass check: HunyuanVideo 1.5's and HunyuanImage 2.1's derive from Qwen-Image's.
    got = next((f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__ if c.__module__.startswith("comfy.")), None)
    if got == want:
        return
    spec = ARCHS[arch]
    other = next((a.label for a in ARCHS.values() if got is not None and a.tokenizer == got), None)
    whose = f"{other}'s encoder" if other else "another model's encoder"
    raise ValueError(f"{node}: the connected CLIP is {whose} (it tokenizes with {cls.__name__}), not {spec.label}'s "
                     f"({want.rsplit('.', 1)[1]}): the same {spec.encoder_name} weights are loaded with another text "
                     f"template for each family, so the null context would be wrong. Connect {spec.encoder}.")


def clip_null_context(node: str, clip, k: int, arch: str, text_width: int | None = None):
    """The empty text encoded by a connected CLIP at the length the prompt needs, as a null context (same
    return as `encoded_null_context`). FLUX: T5 over exactly K tokens, unmasked (what ComfyUI's
    T5TokenizerOptions with min_length K then CLIP Text Encode("") give), and CLIP-L's pooled vector; Wan: umT5
    as usual, cut to K (exact: umT5 zeroes its padding)."""
    family = ARCHS[arch]
    option = family.null_length_option
    tokens = clip.tokenize("", tokenizer_options={option: k}) if option else clip.tokenize("")
    streams = sorted(tokens) if isinstance(tokens, dict) else []
    if streams not in [sorted(s) for s in family.text_streams]:  # e.g. FLUX's t5xxl + clip_l on a Wan prompt
        theirs = " or ".join(", ".join(s) for s in family.text_streams)
        raise ValueError(f"{node}: the connected CLIP is not {family.label}'s text encoder (its tokenizer gives "
                         f"{', '.join(streams) or 'no named'} token streams, {family.label}'s gives "
                         f"{theirs}). Connect {ARCHS[arch].encoder}.")
    _check_tokenizer(node, clip, arch)
    out = clip.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
    context, pooled = out["cond"], out.get("pooled_output")
    _check_width(node, "CLIP", context.shape[-1], arch, text_width)
    if option and context.shape[1] != k:
        raise ValueError(f"{node}: the connected CLIP gave {context.shape[1]} tokens for the empty text where "
                         f"{k} were asked for ({option}), so it is not {ARCHS[arch].encoder}. Connect that pair.")
    width = family.pooled_width
    if width is not None and (pooled is None or pooled.shape[-1] != width):
        raise ValueError(f"{node}: the connected CLIP gives no {width}-wide pooled vector; {family.label} needs "
                         f"CLIP-L's. Connect {family.encoder}.")
    pooled = pooled[0].float().cpu() if width is not None else None
    return fit_tokens(context[:1].float().cpu(), k, arch)[0], pooled


def encoded_null_context(node: str, conditioning: list, k: int, arch: str, text_width: int | None = None):
    """A connected empty-text CONDITIONING as a null context: ((K, 4096) float32 on CPU, cut or padded as the
    official code sees it; FLUX's pooled (768,) vector or None). Shared by Apply, Import and Train."""
    if len(conditioning) == 0:
        raise ValueError(f"{node}: the connected CONDITIONING is empty. Connect the output of CLIP Text Encode "
                         "with an empty text, or disconnect it to use the prompt's stored null context.")
    context, extra = conditioning[0][0], conditioning[0][1]
    _check_width(node, "CONDITIONING", context.shape[-1], arch, text_width)
    pooled = extra.get("pooled_output") if ARCHS[arch].pooled_width is not None else None
    note = length_note(node, context.shape[1], k, arch)
    if note:
        log.warning("unlock-restore: %s", note)
    return (fit_tokens(context[:1].float().cpu(), k, arch)[0],
            pooled[0].float().cpu() if pooled is not None else None)


def prompt_conditioning(node: str, prompt, conditioning=None, strength: float = 1.0, clip=None,
                        text_width: int | None = None) -> list:
    """CONDITIONING for sampling with `prompt`: its null context (or the empty text encoded by a connected CLIP,
    or the connected encoding fitted to K, in that order), for FLUX with the pooled vector and guidance 1.0; in
    context mode with the learned residual added."""
    k = prompt.tokens
    if clip is not None:
        context, pooled = clip_null_context(node, clip, k, prompt.arch, text_width)
    elif conditioning is not None:
        context, pooled = encoded_null_context(node, conditioning, k, prompt.arch, text_width)
    elif prompt.null_context is not None:
        context, pooled = prompt.null_context.float(), prompt.pooled
    else:
        raise ValueError(
            f"{node}: this restoration prompt ({prompt.provenance.get('source', 'no source')}) has no stored null "
            f"context (official prompt files do not include it). Re-import it with 'Import Official Restoration "
            f"Prompt' with the text encoder ({ARCHS[prompt.arch].encoder}) connected to its clip input, so the null "
            f"context is stored in the file; or connect that encoder to Apply Restoration Prompt's clip input.")
    context = context.unsqueeze(0)
    if getattr(prompt, "mode", None) == "context":  # a mixture adds its context residuals per evaluation
        context = context + float(strength) * prompt.prompt.float().unsqueeze(0)
    spec = ARCHS[prompt.arch]
    if spec.pooled_width is not None:
        if pooled is None:
            raise ValueError(f"{node}: {spec.label} needs the empty prompt's pooled CLIP-L vector, and neither the "
                             f"prompt nor the connected CONDITIONING has one. Encode the empty text with "
                             f"{spec.encoder}.")
        pooled = pooled.float().unsqueeze(0)
    return [[context, family_of(prompt.arch).conditioning_extras(pooled, prompt.guidance)]]


__all__ = ["clip_null_context", "encoded_null_context", "fit_tokens", "length_note", "prompt_conditioning"]
