"""Other custom-node packs the tests compose with: checkouts at pinned commits, kept in the cache outside the
repository (never committed). A test that needs one skips with one loud line saying how to get it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .host import load_tool

GGUF_REPO = "https://github.com/city96/ComfyUI-GGUF"
GGUF_COMMIT = "795e45156ece99afbc3efef911e63fcb46e6a20d"  # 2025-12-18, "Use int64 for index in dequant"


def gguf_pack() -> Path:
    """Where the pinned ComfyUI-GGUF checkout is looked for: $UNLOCK_CACHE/peers/ComfyUI-GGUF-<commit[:12]>."""
    return load_tool("tiny_models").cache_root() / "peers" / f"ComfyUI-GGUF-{GGUF_COMMIT[:12]}"


def gguf_skip_reason() -> str | None:
    path = gguf_pack()
    if not (path / "__init__.py").is_file() or not (path / "tools" / "convert.py").is_file():
        return (f"!!! GGUF TESTS SKIPPED: no ComfyUI-GGUF checkout at {path}. Get it with: git clone {GGUF_REPO} "
                f"{path} && git -C {path} checkout {GGUF_COMMIT} !!!")
    if importlib.util.find_spec("gguf") is None:
        return ("!!! GGUF TESTS SKIPPED: the gguf package is missing from the test environment "
                "(tests/requirements.txt) !!!")
    return None
