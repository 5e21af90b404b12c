"""The model families unlock-restore drives, one module each (base.py has the interface), found here by name:
every module of this package that defines `FAMILIES` is registered. Adding a family is one module here, one
`Arch` entry in prompt_embeds/archs.py and one row in tests/test_families.py."""
from __future__ import annotations

import importlib
import pkgutil

from .base import Family


def _discover() -> tuple[Family, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            found.extend(getattr(importlib.import_module(f"{__name__}.{info.name}"), "FAMILIES", ()))
    return tuple(found)


FAMILIES: tuple[Family, ...] = _discover()
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
