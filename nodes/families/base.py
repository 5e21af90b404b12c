"""The interface every model family implements in the host: one module per family (flux.py, wan.py, ...).

A family owns what the host side of a prompt needs to know about a model: exact detection, its width and block
layout, the injection points (object patches), the re-entrant checkpoint replacement of its blocks, and the
conditioning extras (pooled vector, guidance). Data that needs no host (widths, token count, text encoder, image
or video) is the family's `Arch` in prompt_embeds/archs.py, reached through `spec`.
"""
from __future__ import annotations

import comfy.model_base

from ...prompt_embeds import ARCHS
from ...prompt_embeds.archs import Arch
from ..injection import gated_copy


class Family:
    arch: str = ""          # the prompt_embeds.ARCHS key its prompts carry
    host_class: str = ""    # the exact comfy.model_base class (a subclass is another family)
    user_name: str = ""     # how refusals name it among the supported families
    # Block kinds the host's patches_replace["dit"] uses, per key of `Arch.block_keys`, in the same order.
    replace_kinds: tuple[str, ...] = ()

    @property
    def spec(self) -> Arch:
        return ARCHS[self.arch]

    def detect(self, base) -> bool:
        """True for a loaded model (comfy.model_base object) of exactly this family: its own class, not a subclass
        (FLUX.2, Chroma and the Wan variants subclass Flux / WAN21 but read text differently)."""
        cls = type(base)
        return cls.__name__ == self.host_class and cls is getattr(comfy.model_base, self.host_class, None)

    # -- shape --------------------------------------------------------------------------------------------------
    def layout(self, dm) -> tuple[int, dict[str, int]]:
        """(hidden width D, block counts by `Arch.block_keys`) of a diffusion model."""
        raise NotImplementedError

    def text_width(self, dm) -> int | None:
        """The width of the text encoding a diffusion model reads (`Arch.text_width` unless it varies)."""
        return self.spec.text_width

    def block_modules(self, dm) -> dict[str, list]:
        """The transformer blocks of a diffusion model by `Arch.block_keys`, in host order."""
        raise NotImplementedError

    # -- injection ----------------------------------------------------------------------------------------------
    def object_patches(self, patcher, state, blocks: dict[str, int]) -> dict:
        """{object-patch key: patched module} that add the gated prompt of `state` (a nodes.injection.PromptState)
        to every block; gate index = the block's position over all kinds in `Arch.block_keys` order."""
        raise NotImplementedError

    # -- training -----------------------------------------------------------------------------------------------
    def run_block(self, kind: str, block, a: dict, kwargs: dict) -> tuple:
        """Call one block as the host's patches_replace entry would, from the replace `args` dict `a`."""
        raise NotImplementedError

    def block_kwargs(self, original_block) -> dict:
        """Keyword arguments the host passes to a block beyond the replace args (read from its closure)."""
        return {}

    def checkpoint_keys(self, blocks: dict[str, int]) -> list[str]:
        """Object-patch keys of the blocks to checkpoint where the host's block loop has no patches_replace entry
        (`replace_kinds` empty): nodes/training.py wraps each such module's forward in a re-entrant checkpoint."""
        return []

    # -- conditioning -------------------------------------------------------------------------------------------
    def conditioning_extras(self, pooled, guidance) -> dict:
        """The CONDITIONING dict entries beside the text tensor (pooled (1, W) float, guidance) for sampling."""
        return {}

    def model_extras(self, pooled, batch: int, device) -> dict:
        """The keyword arguments of `extra_conds` beside cross_attn for a batch (training)."""
        return {}


class EmptyPooled:
    """Mixin for a family with no pooled vector whose host conditioning still reads the key (Chroma on older hosts
    through Flux.encode_adm, HunyuanVideo's encode_adm): None, as CLIP Text Encode leaves it, adds nothing."""

    def conditioning_extras(self, pooled, guidance) -> dict:
        return {"pooled_output": None}

    def model_extras(self, pooled, batch: int, device) -> dict:
        return {"pooled_output": None}


def closure_value(fn, name: str, default):
    """The current value of variable `name` that the host's `original_block` closure reads, or `default`."""
    try:
        cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
        return cells[name].cell_contents
    except (AttributeError, KeyError, ValueError):  # no such closure variable (older host) or not yet bound
        return default


def gated_patches(patcher, state, path: str, count: int, mixin: type, first_gate: int = 0, **attrs) -> dict:
    """{`path` formatted with i = 0..count-1: that module as the clone sees it, as a gated copy with `mixin`}, block
    i taking gate first_gate + i (Family.object_patches; `patcher.get_model_object` includes earlier patches)."""
    keys = [path.format(i=i) for i in range(count)]
    return {key: gated_copy(patcher.get_model_object(key), mixin, state, first_gate + i, **attrs)
            for i, key in enumerate(keys)}
