"""Gated prompt injection into a cloned ModelPatcher, through object patches (method.md, "Injection").

Each patched module is a shallow copy of the host's module with a subclass that adds the prompt: it shares the
original's parameters and submodules, so LoRA/fp8/GGUF weight patches (which address weights by their path)
still land on the weights it uses, and unpatching restores the original object untouched.
  FLUX double block: txt_attn.qkv(t + s a_l P)            (the text-stream attention input)
  FLUX single block: linear1(x) + [s a_l W_qkv P on the K text tokens, qkv columns only]   (MLP input unchanged)
  Wan block:         cross_attn(x, c) + s a_l cross_attn(x, c + P)
"""
from __future__ import annotations

import copy

import torch

_SUBCLASSES: dict[tuple[type, type], type] = {}


class PromptState:
    """The prompt(s) shared by every patched block of one Apply: P and the gates, with per-device/dtype copies
    cached so a sampling step does no conversion work. Several prompts (the 'average' mixing mode) share one set
    of patched blocks; `active` selects whose injection runs (None: none, the unprompted model)."""

    def __init__(self, prompts: list, strength: float, node: str):
        self.prompts = [(p, g) for p, g in prompts]  # [(P (K, D), gates (n_blocks,))]
        self.strength = float(strength)
        self.node = node
        self.active: int | None = 0
        self._cast: dict = {}

    @property
    def tokens(self) -> int:
        return self.prompts[0][0].shape[0]

    def trainable(self) -> bool:
        return any(p.requires_grad or g.requires_grad for p, g in self.prompts)

    def _cached(self, key, make):
        if self.trainable():  # training: keep the autograd graph, cache nothing
            return make()
        out = self._cast.get(key)
        if out is None:
            out = self._cast[key] = make()
        return out

    def scaled(self, block: int, like: torch.Tensor) -> torch.Tensor:
        """s * a_l * P of the active prompt as (1, K, D) in like's device and dtype."""
        p, g = self.prompts[self.active]
        return self._cached((self.active, block, like.device, like.dtype),
                            lambda: self._finite((self.strength * g[block] * p).to(like).unsqueeze(0)))

    def plain(self, like: torch.Tensor) -> torch.Tensor:
        """P of the active prompt as (1, K, D) in like's device and dtype."""
        p = self.prompts[self.active][0]
        return self._cached((self.active, "plain", like.device, like.dtype),
                            lambda: self._finite(p.to(like).unsqueeze(0)))

    def _finite(self, t: torch.Tensor) -> torch.Tensor:
        # Checked once per cached copy: a prompt that overflows the dtype the model runs in stops here, by name.
        if not torch.isfinite(t).all():
            raise FloatingPointError(
                f"{self.node}: the restoration prompt (x gate x strength {self.strength}) overflows "
                f"{str(t.dtype).replace('torch.', '')}, the dtype the model runs in. Lower strength, load the "
                "model in a wider dtype (weight_dtype default), or use another prompt file.")
        return t

    def gate(self, block: int):
        g = self.prompts[self.active][1][block]
        return self.strength * (g if self.trainable() else float(g))

    def check_tokens(self, n: int, what: str) -> None:
        if n != self.tokens:
            raise ValueError(
                f"{self.node}: the model received {n} text tokens but the restoration prompt has K={self.tokens}. "
                f"Use the CONDITIONING output of {self.node} ({what}); if you connected your own text encoding, "
                f"it is cut or padded to K only inside {self.node}, so route it through that node.")


class _DoubleQKV:
    """FLUX double block: the text stream's qkv projection sees t + s a_l P."""

    def forward(self, x, *args, **kwargs):
        st: PromptState = self._unlock_state
        if st.active is None:
            return super().forward(x, *args, **kwargs)
        st.check_tokens(x.shape[1], "FLUX double block")
        return super().forward(x + st.scaled(self._unlock_block, x), *args, **kwargs)


class _SingleLinear1:
    """FLUX single block: only the qkv columns of linear1 change, only for the first K (text) tokens.
    By linearity qkv(t + s a P) = qkv(t) + W_qkv (s a P). The delta is computed through the module itself on every
    forward, from K + 1 rows (s a P, and one zero row that gives the bias to subtract), so every weight mechanism
    the host or a pack uses (fp8 casts, LoRA as weight patches, lowvram/dynamic-VRAM weight functions, GGUF
    dequantisation with its patches) applies exactly as it does to the block's own input. Nothing is cached: a
    cache keyed on the weight tensor went stale when a patch changed the weight without replacing the tensor."""

    def forward(self, x, *args, **kwargs):
        out = super().forward(x, *args, **kwargs)
        st: PromptState = self._unlock_state
        if st.active is None:
            return out
        k, qkv_width = st.tokens, 3 * self._unlock_hidden
        if x.shape[1] < k:
            st.check_tokens(x.shape[1], "FLUX single block")
        # In place on the fresh output: linear's backward does not need its output, so autograd stays exact.
        out[:, :k, :qkv_width] += self._unlock_delta(x)
        return out

    def _unlock_delta(self, x):
        scaled = self._unlock_state.scaled(self._unlock_block, x)  # (1, K, D)
        rows = super().forward(torch.cat([scaled, torch.zeros_like(scaled[:, :1])], dim=1))  # (1, K + 1, out)
        k = scaled.shape[1]
        return (rows[:, :k] - rows[:, k:])[..., :3 * self._unlock_hidden]  # W (s a P): the bias cancels


class _WanCrossAttn:
    """Wan block: out = attn(x, c) + s a_l attn(x, c + P), c the context after Wan's text projection."""

    def forward(self, x, context, *args, **kwargs):
        st: PromptState = self._unlock_state
        base = super().forward(x, context, *args, **kwargs)
        if st.active is None:
            return base
        st.check_tokens(context.shape[1], "Wan block")
        extra = super().forward(x, context + st.plain(context), *args, **kwargs)
        return base + st.gate(self._unlock_block) * extra


class AlreadyPatchedError(ValueError):
    pass


def _gated_copy(module: torch.nn.Module, mixin: type, state: PromptState, block: int, **attrs) -> torch.nn.Module:
    if "_unlock_state" in module.__dict__:
        raise AlreadyPatchedError(
            f"{state.node}: this MODEL already has a restoration prompt applied. Apply each prompt to the original "
            "model (before any other Apply Restoration Prompt), or combine prompts with Mix Restoration Prompts.")
    base = type(module)
    cls = _SUBCLASSES.get((mixin, base))
    if cls is None:
        cls = type(f"Unlock{mixin.__name__.strip('_')}_{base.__name__}", (mixin, base), {})
        _SUBCLASSES[(mixin, base)] = cls
    patched = copy.copy(module)  # shares _parameters/_modules with the original: weight patches reach both
    patched.__class__ = cls
    # Plain attributes in the copy's own __dict__ (object.__setattr__ keeps them out of nn.Module registries,
    # so state_dict and weight-patch paths are unchanged).
    for k, v in {"_unlock_state": state, "_unlock_block": block, **attrs}.items():
        object.__setattr__(patched, k, v)
    return patched


# `patcher.get_model_object(key)` is the module as this clone will see it (an earlier object patch included).
def flux_object_patches(patcher, state: PromptState, n_double: int, n_single: int) -> dict:
    patches = {}
    hidden = patcher.get_model_object("diffusion_model").hidden_size
    for i in range(n_double):
        key = f"diffusion_model.double_blocks.{i}.txt_attn.qkv"
        patches[key] = _gated_copy(patcher.get_model_object(key), _DoubleQKV, state, i)
    for j in range(n_single):
        key = f"diffusion_model.single_blocks.{j}.linear1"
        patches[key] = _gated_copy(patcher.get_model_object(key), _SingleLinear1, state, n_double + j,
                                   _unlock_hidden=hidden)
    return patches


def wan_object_patches(patcher, state: PromptState, n_blocks: int) -> dict:
    patches = {}
    for i in range(n_blocks):
        key = f"diffusion_model.blocks.{i}.cross_attn"
        patches[key] = _gated_copy(patcher.get_model_object(key), _WanCrossAttn, state, i)
    return patches


def install_prompt(patcher, state: PromptState, arch: str, blocks: dict) -> None:
    """Add the gated injection of `state` to `patcher` (a clone) for the model family `arch`."""
    if arch == "flux":
        patches = flux_object_patches(patcher, state, blocks["double"], blocks["single"])
    else:
        patches = wan_object_patches(patcher, state, blocks["blocks"])
    for key, module in patches.items():
        patcher.add_object_patch(key, module)
