"""The model families unlock-restore drives, one module each (base.py has the interface). Adding a family is one
module here, one `Arch` entry in prompt_embeds/archs.py and one row in the family tests."""
from __future__ import annotations

from .base import Family
from .chroma import FAMILY as CHROMA
from .flux import FAMILY as FLUX1
from .wan import WAN21, WAN22

FAMILIES: tuple[Family, ...] = (FLUX1, CHROMA, WAN21, WAN22)
BY_ARCH: dict[str, Family] = {f.arch: f for f in FAMILIES}


def detect(base) -> Family | None:
    """The family of a loaded model (comfy.model_base object), or None when the pack does not drive it."""
    return next((f for f in FAMILIES if f.detect(base)), None)


def family(arch: str) -> Family:
    return BY_ARCH[arch]


def supported_text() -> str:
    """The families as a user reads them in a refusal: 'A, B and C'."""
    names = list(dict.fromkeys(f.user_name for f in FAMILIES))
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


__all__ = ["FAMILIES", "BY_ARCH", "Family", "detect", "family", "supported_text"]
