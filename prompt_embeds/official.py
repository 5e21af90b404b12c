"""Import of the officially released YPT prompt checkpoints (pickled .pt dicts) into restoration prompts."""
from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence

import torch

from .archs import ARCHS, blocks_text
from .errors import fail
from .fileio import SUFFIX, save_prompt
from .prompt import PACK_VERSION, RestorationPrompt

log = logging.getLogger("unlock_restore")

# backend name in the official file -> (our arch, base model of the release).
BACKENDS = {"flux": ("flux", "FLUX.1-dev"), "wan": ("wan21", "Wan2.1-T2V-1.3B")}
_EXPECTED = ("{'backend': 'wan' or 'flux', 'deep_prompt_bank': {'prompts': tensor (1, K, D)}, "
             "'alphas': [one scalar tensor per block]}")
_NOT_OFFICIAL_FIX = ("Import only the official YPT prompt files (e.g. wan_haze.pt, flux_rain.pt); prompts trained "
                     "with unlock-restore are already .safetensors and load with 'Load Restoration Prompt'")


def load_official(path, null_context: torch.Tensor | None = None, pooled: torch.Tensor | None = None,
                  degradation: str | None = None, warn_missing: bool = True) -> RestorationPrompt:
    """Read an official YPT checkpoint. P and the gates are kept bit for bit (dtype unchanged).

    The official files do not contain the null context (the empty prompt encoded by the text encoder); pass it as
    `null_context` ((K, 4096) or (1, K, 4096), exactly K tokens) or supply it later. FLUX also needs `pooled`,
    the empty prompt's CLIP-L pooled vector ((768,) or (1, 768)).
    """
    path = os.fspath(path)
    obj = _torch_load(path)
    backend, bank, alphas = _structure(path, obj)
    arch, base_model = BACKENDS[backend]
    info = ARCHS[arch]

    prompts = bank["prompts"]
    # [0] drops the batch dim; clone() so the result owns exactly K x D values (same bits, same dtype).
    P = prompts.detach()[0].clone()
    K = P.shape[0]
    gates = torch.stack([a.detach().reshape(()) for a in alphas]).clone()
    n = gates.shape[0]
    if len(info.block_keys) > 1:
        # The file gives one list of gates, not the split into block kinds: that is the release model's layout.
        # The official FLUX alphas follow diffusers' module order: 19 transformer_blocks (double stream) then
        # 38 single_transformer_blocks. ComfyUI's double_blocks/single_blocks are the same blocks in the same
        # order, so the gates are used as stored, without reordering.
        layout = info.models[base_model][1]
        if n != sum(layout.values()):
            raise fail("official_format", f"is a {info.label} checkpoint with {n} gates; official {info.label} "
                       f"prompts have {sum(layout.values())} ({blocks_text(layout)})", _NOT_OFFICIAL_FIX,
                       path=path)
        blocks = dict(layout)
    else:
        blocks = {info.block_keys[0]: n}
        base_model = info.model_for(P.shape[1], blocks) or info.model_for(P.shape[1]) or info.label

    null_context = _tokens_exact(path, null_context, K, "null_context", info.text_width)
    if pooled is not None:
        if info.pooled_width is None:
            raise fail("shape", f"was given a pooled vector, but {info.label} uses none",
                       "Leave 'pooled' empty for Wan prompts", path=path)
        pooled = pooled.detach().to("cpu")
        if pooled.dim() == 2 and pooled.shape[0] == 1:
            pooled = pooled[0]
        if tuple(pooled.shape) != (info.pooled_width,):
            raise fail("shape", f"was given a pooled vector of shape {tuple(pooled.shape)}; expected "
                       f"({info.pooled_width},) or (1, {info.pooled_width})",
                       "Pass the CLIP-L pooled output of the empty prompt \"\"", path=path)
    no_pooled = (f" {info.label} also needs the empty prompt's CLIP-L pooled vector ({info.pooled_width} values)."
                 if info.pooled_width is not None and pooled is None else "")
    if null_context is None and warn_missing:
        log.warning("unlock-restore: the official prompt file '%s' has no null context. It must be supplied before "
                    "use: the empty prompt \"\" encoded by the model's text encoder (%s), %d tokens x %d.%s",
                    path, info.encoder_name, K, info.text_width, no_pooled)
    elif no_pooled:
        log.warning("unlock-restore: the official prompt file '%s' has no pooled vector.%s", path, no_pooled)

    stem = os.path.splitext(os.path.basename(path))[0]
    guessed = stem[len(backend) + 1:] if stem.lower().startswith(backend + "_") else stem
    prompt = RestorationPrompt(
        prompt=P, gates=gates, mode="gated", arch=arch, blocks=blocks, null_context=null_context, pooled=pooled,
        guidance=info.guidance, t0=0.4, steps=20, time_index="official",
        provenance={"degradations": [degradation or guessed], "base_model": base_model,
                    "training": {"note": "official YPT release (github.com/sudraj2002/YPT); settings not "
                                 "published"},
                    "pack_version": PACK_VERSION, "source": f"official:{os.path.basename(path)}"})
    return prompt.validate(path=path)


def convert_official(src, dst, null_context: torch.Tensor | None = None, pooled: torch.Tensor | None = None,
                     degradation: str | None = None) -> RestorationPrompt:
    """load_official(src, ...) then save_prompt(..., dst) (atomic). Returns the prompt written. Library API for
    converting without ComfyUI (README shows the import); the Import node does the same in the host."""
    dst = os.fspath(dst)
    if not dst.lower().endswith(SUFFIX):  # before the work, not after it
        raise fail("extension", f"cannot be written: the name must end in {SUFFIX}",
                   f"Choose a file name ending in {SUFFIX}", path=dst)
    prompt = load_official(src, null_context=null_context, pooled=pooled, degradation=degradation)
    save_prompt(prompt, dst)
    return prompt


def _torch_load(path: str):
    if not path.lower().endswith((".pt", ".pth")):
        raise fail("extension", "is not an official YPT checkpoint (those end in .pt)",
                   "Pick the official .pt file; .safetensors prompts load directly with 'Load Restoration "
                   "Prompt'" if path.lower().endswith(SUFFIX) else "Pick the official .pt file", path=path)
    if not os.path.isfile(path):
        raise fail("missing", "does not exist" if not os.path.exists(path) else "is a folder, not a file",
                   "Check the file name and folder", path=path)
    size = os.path.getsize(path)
    redownload = "The download or copy was cut off: download the official file again"
    if size == 0:
        raise fail("truncated", "is empty (0 bytes)", redownload, path=path)
    with open(path, "rb") as f:
        magic = f.read(4)
    # torch.save writes a zip archive whose directory sits at the end: a cut-off copy has no directory.
    if magic == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        raise fail("truncated", "is incomplete (its archive directory is missing)", redownload, path=path)
    try:
        # weights_only: never run code from a downloaded pickle. map_location: the files were saved from CUDA.
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        if magic == b"PK\x03\x04" or "Unsupported global" in str(e):
            raise fail("official_format", "contains Python objects other than tensors and plain containers, so "
                       "it is not an official prompt checkpoint (and is not loaded, to avoid running its code)",
                       _NOT_OFFICIAL_FIX, path=path) from None
        raise fail("corrupt", "is not a PyTorch checkpoint (its contents are not readable)",
                   "Download the official file again", path=path) from None
    except Exception as e:
        raise fail("corrupt", f"is damaged and could not be read ({type(e).__name__}: {str(e)[:200]})",
                   "Download the official file again", path=path) from None


def _structure(path: str, obj):
    """Check the official layout; return (backend, bank, alphas) or raise saying what was found."""
    def bad(found: str):
        return fail("official_format", f"is not an official YPT prompt checkpoint: {found}; expected {_EXPECTED}",
                    _NOT_OFFICIAL_FIX, path=path)

    if not isinstance(obj, Mapping):
        raise bad(f"it holds a {type(obj).__name__}, not a dict")
    missing = [k for k in ("backend", "deep_prompt_bank", "alphas") if k not in obj]
    if missing:
        raise bad(f"it is a dict with keys {sorted(map(str, obj))} (missing {', '.join(missing)})")
    backend = obj["backend"]
    if backend not in BACKENDS:
        raise bad(f"its backend is {backend!r} (known: {', '.join(BACKENDS)})")
    bank = obj["deep_prompt_bank"]
    if not isinstance(bank, Mapping) or not isinstance(bank.get("prompts"), torch.Tensor):
        raise bad("its 'deep_prompt_bank' has no 'prompts' tensor")
    prompts = bank["prompts"]
    if prompts.dim() != 3 or prompts.shape[0] != 1 or prompts.shape[1] < 1 or prompts.shape[2] < 1:
        raise bad(f"its prompts tensor has shape {tuple(prompts.shape)}, not (1, K, D)")
    if not prompts.is_floating_point():
        raise bad(f"its prompts tensor has dtype {prompts.dtype}, not floating point")
    alphas = obj["alphas"]
    if isinstance(alphas, torch.Tensor) and alphas.dim() == 1:
        alphas = list(alphas.unbind(0))
    if (not isinstance(alphas, Sequence) or isinstance(alphas, (str, bytes)) or len(alphas) == 0
            or not all(isinstance(a, torch.Tensor) and a.numel() == 1 and a.is_floating_point() for a in alphas)):
        raise bad("its 'alphas' is not a list of scalar float tensors (one gate per block)")
    if len({a.dtype for a in alphas}) != 1:
        raise bad(f"its alphas mix dtypes {sorted({str(a.dtype) for a in alphas})}")
    return backend, bank, alphas


def _tokens_exact(path: str, t: torch.Tensor | None, K: int, name: str, width: int) -> torch.Tensor | None:
    """(K, width) or (1, K, width) -> (K, width), width the family's text encoder's (4096 for T5 / umT5). The
    length is never changed here: padding or cutting the text encoding is the inference layer's decision, so a
    wrong length is an error."""
    if t is None:
        return None
    t = t.detach().to("cpu")
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 2 or t.shape[1] != width:
        raise fail("shape", f"was given a {name} of shape {tuple(t.shape)}; expected ({K}, {width}) or "
                   f"(1, {K}, {width})", f"Pass the text encoder's output for the empty prompt \"\" "
                   f"({width} wide)", path=path)
    if t.shape[0] != K:
        raise fail("shape", f"was given a {name} with {t.shape[0]} tokens, but this prompt has K={K} tokens",
                   f"Encode the empty prompt \"\" padded to exactly {K} tokens", path=path)
    return t
