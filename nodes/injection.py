"""Gated prompt injection into a cloned ModelPatcher, through object patches (method.md, "Injection").

Each patched module is a shallow copy of the host's module with a subclass that adds the prompt: it shares the
original's parameters and submodules, so LoRA/fp8/GGUF weight patches (which address weights by their path)
still land on the weights it uses, and unpatching restores the original object untouched. Where and how each
family injects (its mixins and object-patch keys) is in that family's module, nodes/families/; this module holds
the state they share and the copy mechanism.
"""
from __future__ import annotations

import copy

import torch

from ..prompt_embeds.prompt import gated_peak

_SUBCLASSES: dict[tuple[type, type], type] = {}


class PromptState:
    """The prompt(s) shared by every patched block of one Apply: P and the gates. Several prompts (the 'average'
    mixing mode) share one set of patched blocks; `active` selects whose injection runs (None: none, the
    unprompted model). P is cached once per prompt, device and dtype and the gate applied per call, so the cache
    is one K x D copy per prompt, not one per block."""

    def __init__(self, prompts: list, strength: float, node: str, adds_plain_prompt: bool = True):
        self.prompts = [(p, g) for p, g in prompts]  # [(P (K, D), gates (n_blocks,))]
        self.strength = float(strength)
        self.node = node
        self.adds_plain_prompt = adds_plain_prompt  # the family also adds P itself (Wan: attn(x, c + P))
        self.active: int | None = 0
        self._cast: dict = {}

    @property
    def tokens(self) -> int:
        return self.prompts[0][0].shape[0]

    def trainable(self) -> bool:
        return any(p.requires_grad or g.requires_grad for p, g in self.prompts)

    def plain(self, like: torch.Tensor) -> torch.Tensor:
        """P of the active prompt as (1, K, D) in like's device and dtype."""
        p = self.prompts[self.active][0]
        if self.trainable():  # training: keep the autograd graph, cache nothing
            return p.to(like).unsqueeze(0)
        key = (self.active, like.device, like.dtype)
        out = self._cast.get(key)
        if out is None:
            out = self._cast[key] = self._checked(p.to(like).unsqueeze(0))
        return out

    def scaled(self, block: int, like: torch.Tensor) -> torch.Tensor:
        """s * a_l * P of the active prompt as (1, K, D) in like's device and dtype."""
        return self.gate(block) * self.plain(like)

    def gate(self, block: int):
        g = self.prompts[self.active][1][block]
        return self.strength * (g if self.trainable() else float(g))

    def _checked(self, cast: torch.Tensor) -> torch.Tensor:
        # Checked once per cached copy, for all blocks at once (float64, so exact where the dtype is not): the
        # largest s |a_l| max|P| (and max|P| where P enters unscaled) must fit the dtype the model runs in, so a
        # prompt that would overflow it stops here, by name.
        p, gates = self.prompts[self.active]
        peak = gated_peak(p, gates, self.strength, self.adds_plain_prompt)
        if not torch.isfinite(cast).all() or not peak < float(torch.finfo(cast.dtype).max):
            raise FloatingPointError(
                f"{self.node}: the restoration prompt (x gate x strength {self.strength}) overflows "
                f"{str(cast.dtype).replace('torch.', '')}, the dtype the model runs in. Lower strength, load the "
                "model in a wider dtype (weight_dtype default), or use another prompt file.")
        return cast

    def check_tokens(self, n: int, what: str) -> None:
        if n != self.tokens:
            raise ValueError(
                f"{self.node}: the model received {n} text tokens but the restoration prompt has K={self.tokens}. "
                f"Use the CONDITIONING output of {self.node} ({what}); if you connected your own text encoding, "
                f"it is cut or padded to K only inside {self.node}, so route it through that node.")


class TextRowsInput:
    """Mixin for a projection whose input holds the text rows inside a longer sequence: the prompt's K rows, the
    first K (`last = False`: Z-Image's [caption, image]) or the last K (HunyuanVideo 1.5's [vision, byT5, LLM]), read
    t + s a_l P; every other row is unchanged. Subclasses set `last` and `where` (the block an error names)."""

    last = False
    where = "block"

    def forward(self, x, *args, **kwargs):
        st: PromptState = self._unlock_state
        if st.active is None:
            return super().forward(x, *args, **kwargs)
        k = st.tokens
        if x.shape[1] < k:
            st.check_tokens(x.shape[1], self.where)
        cut = x.shape[1] - k if self.last else k
        head, tail = x[:, :cut], x[:, cut:]
        add = st.scaled(self._unlock_block, x)
        x = torch.cat([head, tail + add] if self.last else [head + add, tail], dim=1)
        return super().forward(x, *args, **kwargs)


class AlreadyPatchedError(ValueError):
    pass


def gated_copy(module: torch.nn.Module, mixin: type, state: PromptState, block: int, **attrs) -> torch.nn.Module:
    if "_unlock_state" in module.__dict__:
        raise AlreadyPatchedError(
            f"{state.node}: this MODEL already has a restoration prompt applied. Apply each prompt to the original "
            "model (before any other Apply Restoration Prompt), or combine prompts with Mix Restoration Prompts.")
    return mixin_copy(module, mixin, _unlock_state=state, _unlock_block=block, **attrs)


def mixin_copy(module: torch.nn.Module, mixin: type, **attrs) -> torch.nn.Module:
    """A shallow copy of `module` whose class puts `mixin` in front of its own, with `attrs` set on it."""
    base = type(module)
    cls = _SUBCLASSES.get((mixin, base))
    if cls is None:
        cls = type(f"Unlock{mixin.__name__.strip('_')}_{base.__name__}", (mixin, base), {})
        _SUBCLASSES[(mixin, base)] = cls
    patched = copy.copy(module)  # shares _parameters/_modules with the original: weight patches reach both
    patched.__class__ = cls
    # Plain attributes in the copy's own __dict__ (object.__setattr__ keeps them out of nn.Module registries,
    # so state_dict and weight-patch paths are unchanged).
    for k, v in attrs.items():
        object.__setattr__(patched, k, v)
    return patched


def install_prompt(patcher, state: PromptState, family, blocks: dict) -> None:
    """Add the gated injection of `state` to `patcher` (a clone) at the injection points of `family` (a
    nodes.families.Family)."""
    state.adds_plain_prompt = family.spec.adds_plain_prompt
    for key, module in family.object_patches(patcher, state, blocks).items():
        patcher.add_object_patch(key, module)
