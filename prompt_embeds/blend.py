"""Blending restoration prompts into one (the 1x-cost way to mix degradations)."""
from __future__ import annotations

import math

import torch

from .archs import ARCHS
from .errors import PromptFileError
from .prompt import PACK_VERSION, RestorationPrompt


def blend_prompts(prompts: list[RestorationPrompt], weights: list[float]) -> RestorationPrompt:
    """One prompt with P = sum w_i P_i and gates = sum w_i g_i, the weights normalised to sum 1.

    This is a linear blend of the parameters. It is not the same as averaging the injections a_l^i P^i of the
    separate prompts (the products do not blend linearly); that is the 'average' mixing mode, which runs the
    model once per prompt (K times the cost). All prompts must be for the same model and shape.
    """
    prompts, weights = list(prompts), normalise_weights(prompts, weights)
    for i, p in enumerate(prompts):
        p.validate(name=_label(p, i))
    first = prompts[0]
    for i, p in enumerate(prompts[1:], start=1):
        a, b = _label(first, 0), _label(p, i)
        checks = [
            ("model family", ARCHS[p.arch].label, ARCHS[first.arch].label,
             "Blend only prompts made for the same model"),
            ("mode", p.mode, first.mode, "Blend only prompts of the same mode (gated or context)"),
            ("width D", p.width, first.width, "Blend only prompts made for the same model size"),
            ("token count K", p.tokens, first.tokens, "Blend only prompts trained with the same text length"),
            ("block layout", p.blocks, first.blocks, "Blend only prompts made for the same model size"),
            ("guidance", p.guidance, first.guidance, "Blend only prompts trained with the same guidance"),
            ("time index", p.time_convention, first.time_convention,
             "Blend only prompts trained with the same time index (official imports and prompts trained since "
             "0.2 use 'official'; or use Mix Restoration Prompts in 'average' mode, which times each prompt as "
             "it was trained)"),
        ]
        for what, got, want, fix in checks:
            if got != want:
                raise _err("mismatch", f"{b} has {what} {got} but {a} has {what} {want}", fix)

    P = _weighted([p.prompt for p in prompts], weights)
    gates = _weighted([p.gates for p in prompts], weights) if first.mode == "gated" else None
    null_context = _shared(prompts, "null_context", "null contexts (encoded empty prompts)")
    pooled = _shared(prompts, "pooled", "pooled CLIP vectors")

    degradations: list[str] = []
    for p in prompts:
        for d in p.provenance.get("degradations", []):
            if d not in degradations:
                degradations.append(d)
    base_models = list(dict.fromkeys(p.provenance.get("base_model", "") for p in prompts if
                                     p.provenance.get("base_model")))
    result = RestorationPrompt(
        prompt=P, gates=gates, mode=first.mode, arch=first.arch, blocks=dict(first.blocks),
        null_context=null_context, pooled=pooled, guidance=first.guidance, time_index=first.time_convention,
        t0=math.fsum(w * p.t0 for w, p in zip(weights, prompts)), steps=max(p.steps for p in prompts),
        provenance={"degradations": degradations, "base_model": " / ".join(base_models),
                    "training": {"blend_weights": weights,
                                 "sources": [p.provenance.get("source", "") for p in prompts]},
                    "pack_version": PACK_VERSION, "source": "blend"})
    return result.validate(name="blend")


def normalise_weights(prompts: list, weights: list[float], action: str = "blend") -> list[float]:
    """Weights checked (one finite number >= 0 per prompt, not all 0) and scaled to sum 1."""
    prompts, weights = list(prompts), list(weights)
    if not prompts:
        raise _err("blend", "no prompts were given", "Connect at least one restoration prompt", action)
    if len(weights) != len(prompts):
        raise _err("blend", f"{len(prompts)} prompts but {len(weights)} weights were given",
                   "Give exactly one weight per prompt", action)
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise _err("blend", f"the weight of {_label(prompts[i], i)} is {w!r}", "Use weights that are numbers >= 0",
                       action)
    total = math.fsum(weights)
    if total <= 0:
        raise _err("blend", "all weights are 0", "Give at least one prompt a weight above 0", action)
    return [w / total for w in weights]


def _weighted(tensors: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    # Accumulate in float32 (half-precision sums lose the small weights), return the inputs' common dtype.
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    device = tensors[0].device
    acc = weights[0] * tensors[0].detach().to(device=device, dtype=torch.float32)
    for w, t in zip(weights[1:], tensors[1:]):
        acc = acc + w * t.detach().to(device=device, dtype=torch.float32)
    return acc.to(dtype)


def _shared(prompts: list[RestorationPrompt], attr: str, what: str) -> torch.Tensor | None:
    """The one value of `attr` all prompts that have it agree on. Null contexts are encodings of the empty
    prompt, so differing ones mean different text encoders: blending them would be meaningless."""
    found = [(i, getattr(p, attr)) for i, p in enumerate(prompts) if getattr(p, attr) is not None]
    if not found:
        return None
    i0, ref = found[0]
    for i, t in found[1:]:
        if t.shape != ref.shape or t.dtype != ref.dtype or not torch.equal(t.cpu(), ref.cpu()):
            raise _err("mismatch", f"{_label(prompts[i], i)} and {_label(prompts[i0], i0)} carry different "
                       f"{what}, so they were trained with different text encoders or settings",
                       "Blend only prompts trained with the same text encoder")
    return ref.clone()


def _label(p, i: int) -> str:
    prov = getattr(p, "provenance", None)
    prov = prov if isinstance(prov, dict) else {}
    what = ", ".join(prov.get("degradations") or []) or prov.get("source") or ""
    return f"prompt {i + 1}" + (f" ({what})" if what else "")


def _err(kind: str, problem: str, fix: str, action: str = "blend") -> PromptFileError:
    return PromptFileError(f"Cannot {action} restoration prompts: {problem}. {fix}.", kind=kind)
