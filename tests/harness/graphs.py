"""API-format graphs and fixtures' data for server tests (tiny models, prompt files, input images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

TINY_SHAPES = {  # what the tiny checkpoints of tools/tiny_models.py are: prompt width and block layout
    "flux": (3072, {"double": 1, "single": 0}),
    "chroma": (3072, {"double": 1, "single": 0}),
    "chroma_radiance": (3072, {"double": 1, "single": 0}),
    "qwen_image": (3072, {"blocks": 1}),
    "wan21": (128, {"blocks": 2}),
    "hunyuan_video15": (128, {"double": 1}),
    "wan22": (128, {"blocks": 2}),  # wan22_ti2v
    "flux2": (128, {"double": 1, "single": 1}),
    "z_image": (3840, {"layers": 1}),
}
TINY_TEXT_WIDTHS = {"flux2": 96}  # families whose text width is the model's (FLUX.2: 3 x its LLM's)


def tiny_prompt(arch: str, tokens: int = 16, seed: int = 0, **kw):
    from unlock_restore.prompt_embeds import ARCHS, RestorationPrompt

    width, blocks = TINY_SHAPES[arch]
    spec = ARCHS[arch]
    tokens = spec.tokens if spec.pad_left else tokens  # FLUX.2: always K = 512
    g = torch.Generator().manual_seed(seed)
    return RestorationPrompt(prompt=0.02 * torch.randn(tokens, width, generator=g),
                             gates=0.1 * torch.randn(sum(blocks.values()), generator=g), mode="gated", arch=arch,
                             blocks=dict(blocks),
                             null_context=0.1 * torch.randn(tokens, spec.text_width or TINY_TEXT_WIDTHS[arch],
                                                            generator=g),
                             pooled=0.1 * torch.randn(768, generator=g) if arch == "flux" else None,
                             provenance={"degradations": ["test"]}, **kw)


def write_image(path: Path, width: int, height: int, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), 0.5 + 0 * xx], axis=-1)
    img = np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).convert(mode).save(path)
    return path


def write_public_domain_image(path: Path, size: int = 48) -> Path:
    """scikit-image's bundled 'astronaut' (Eileen Collins, NASA: public domain), resized, as a PNG input."""
    from skimage import data

    Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS).save(path)
    return path


def bridge_graph(unet: str, vae: str, prompt_file: str, image: str, steps: int = 3, t0: float = 0.4,
                 seed: int = 1, prefix: str = "unlock_test", weight_dtype: str = "default") -> dict:
    """LoadImage -> VAEEncode -> UnlockPromptApply -> BasicGuider + UnlockBridgeSampler + UnlockBridgeSigmas +
    RandomNoise -> SamplerCustomAdvanced -> VAEDecode -> SaveImage."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": weight_dtype}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "3": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": prompt_file}},
        "4": {"class_type": "UnlockPromptApply", "inputs": {"model": ["1", 0], "restoration_prompt": ["3", 0],
                                                            "strength": 1.0}},
        "5": {"class_type": "LoadImage", "inputs": {"image": image}},
        "6": {"class_type": "VAEEncode", "inputs": {"pixels": ["5", 0], "vae": ["2", 0]}},
        "7": {"class_type": "BasicGuider", "inputs": {"model": ["4", 0], "conditioning": ["4", 1]}},
        "8": {"class_type": "UnlockBridgeSampler", "inputs": {}},
        "9": {"class_type": "UnlockBridgeSigmas", "inputs": {"model": ["4", 0], "t0": t0, "steps": steps,
                                                             "t_min": 1e-4}},
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "11": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["10", 0], "guider": ["7", 0],
                                                                 "sampler": ["8", 0], "sigmas": ["9", 0],
                                                                 "latent_image": ["6", 0]}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["2", 0]}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": prefix}},
    }
