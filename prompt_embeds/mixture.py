"""Mixtures: several prompts run separately at every step, predictions averaged (the paper's mixed mode)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .archs import ARCHS
from .blend import _err, _label, normalise_weights
from .prompt import RestorationPrompt


@dataclass(eq=False)
class PromptMixture:
    """Prompts with weights summing to 1. Sampling evaluates the model once per prompt per step and averages
    the predictions (K prompts cost K evaluations). All prompts are for the same model family and text length,
    so they share one conditioning; gated and context prompts may be mixed."""

    prompts: list[RestorationPrompt]
    weights: list[float]

    @property
    def arch(self) -> str:
        return self.prompts[0].arch

    @property
    def tokens(self) -> int:
        return self.prompts[0].tokens

    @property
    def null_context(self) -> torch.Tensor | None:
        return next((p.null_context for p in self.prompts if p.null_context is not None), None)

    @property
    def pooled(self) -> torch.Tensor | None:
        return next((p.pooled for p in self.prompts if p.pooled is not None), None)

    @property
    def guidance(self):
        return self.prompts[0].guidance

    @property
    def provenance(self) -> dict:
        degradations = list(dict.fromkeys(d for p in self.prompts for d in p.provenance.get("degradations", [])))
        return {"degradations": degradations, "source": "mixture"}

    def describe(self) -> str:
        parts = ", ".join(f"{w:.2f} x {', '.join(p.provenance.get('degradations') or []) or 'prompt'}"
                          for p, w in zip(self.prompts, self.weights))
        return f"{ARCHS[self.arch].label} mixture (average of {len(self.prompts)} prompts: {parts})"


def mix_prompts(prompts: list, weights: list[float]) -> PromptMixture:
    """A mixture of prompts (nested mixtures are flattened, their weights multiplied)."""
    weights = normalise_weights(prompts, weights, action="mix")
    flat: list[tuple[RestorationPrompt, float]] = []
    for p, w in zip(prompts, weights):
        if isinstance(p, PromptMixture):
            flat.extend((q, w * v) for q, v in zip(p.prompts, p.weights))
        else:
            flat.append((p, w))
    for i, (p, _) in enumerate(flat):
        p.validate(name=_label(p, i))
    first = flat[0][0]
    for i, (p, _) in enumerate(flat[1:], start=1):
        for what, got, want, fix in [
            ("model family", ARCHS[p.arch].label, ARCHS[first.arch].label, "Mix only prompts made for the same model"),
            ("token count K", p.tokens, first.tokens, "Mix only prompts trained with the same text length"),
            ("guidance", p.guidance, first.guidance, "Mix only prompts trained with the same guidance"),
        ]:
            if got != want:
                raise _err("mismatch", f"{_label(p, i)} has {what} {got} but {_label(first, 0)} has {what} {want}",
                           fix, action="mix")
    return PromptMixture([p for p, _ in flat], [w for _, w in flat])
