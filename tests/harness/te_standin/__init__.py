"""Test-only custom node package (linked into the scratch servers' custom_nodes, never shipped): the stock
text-encoder loaders load the tiny text-encoder files at their size.

ComfyUI builds T5-XXL from a fixed JSON config whatever the file holds; its own `model_options
["t5xxl_model_config"]` overrides config fields, but DualCLIPLoader has no way to pass it. This wraps
`comfy.sd.load_clip` (which the stock loader nodes call) to add the override each tiny file records in its
metadata (tools/tiny_models.te_model_options); any other file loads exactly as before. The loader node, the T5
and CLIP classes, the tokenizers and the FLUX wiring are the host's own.
"""
import importlib.util
from pathlib import Path

import comfy.sd

_spec = importlib.util.spec_from_file_location(
    "unlock_te_standin_tiny_models", Path(__file__).resolve().parents[3] / "tools" / "tiny_models.py")
_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tiny)
_host_load_clip = comfy.sd.load_clip


def load_clip(ckpt_paths, *args, **kwargs):
    if len(args) >= 3:  # (embedding_directory, clip_type, model_options, ...) given by position
        args = (*args[:2], _tiny.te_model_options(ckpt_paths, args[2]), *args[3:])
    else:
        kwargs["model_options"] = _tiny.te_model_options(ckpt_paths, kwargs.get("model_options"))
    return _host_load_clip(ckpt_paths, *args, **kwargs)


comfy.sd.load_clip = load_clip
NODE_CLASS_MAPPINGS: dict = {}
