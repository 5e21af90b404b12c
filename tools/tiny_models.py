#!/usr/bin/env python3
"""Deterministic tiny checkpoints that ComfyUI's stock loaders accept (random weights from a seed).

For tests and demos: a model file per NAME in `MODEL_FOLDERS`, built from a seed, cached in an output folder
with a `manifest.json` (version, seed, sha256, size, parameters per file). Nothing here is ever committed.

    python tools/tiny_models.py --comfyui /path/to/ComfyUI --out DIR [--only NAME,...] [--seed N]
                                [--force] [--no-verify]

Files (the smallest shapes the stock loaders detect, comfy/model_detection.py and comfy/sd.py VAE):
  flux_dev       FLUX-dev layout, 1 double + 0 single blocks (detection hard-codes hidden 3072, 24 heads,
                 context 4096, axes (16,56,56), patch 2), 404 M parameters, bf16       -> diffusion_models
  flux_dev_fp8   the same weights, every 2-D weight stored as float8_e4m3fn (biases and norm scales bf16)
                                                                                        -> diffusion_models
  chroma_radiance  Chroma Radiance layout (Chroma's, on RGB pixels: detection fixes the approximator, hidden 3072
                 and the NeRF head's sizes), 1 double block, 32 px patches and the x0 marker where the host reads them,
                 1.1 B parameters, bf16                                                 -> diffusion_models
  qwen_image     Qwen-Image layout, 1 block (detection hard-codes 24 heads x 128, text 3584, rope (16,56,56)),
                 0.38 B parameters, bf16                                                -> diffusion_models
  wan21_t2v      Wan 2.1 T2V: dim 128 (1 head), 2 layers, ffn 256, 16 channels in and out, text 4096,
                 1.1 M parameters, bf16                                                 -> diffusion_models
  taesd_flux     TAESD with 16 latent channels (the FLUX latent space; vae_scale/vae_shift as ComfyUI sets
                 them for taef1), 2.5 M parameters, fp32                                -> vae
  wan21_vae      the Wan 2.1 VAE architecture (z 16, not 2.2), 127 M parameters, bf16  -> vae
  flux2          FLUX.2 layout (klein's kind: no guidance input), hidden 128 (1 head: detection fixes the head
                 width at 128 and rope (32,32,32,32)), 1 double + 1 single block, 128 latent channels, text 96
                 wide, 1.0 M parameters, bf16; only on hosts with FLUX.2                         -> diffusion_models
  flux2_vae      the FLUX.2 VAE architecture (32 z channels, batch-normed 2 x 2 patches: 128 latent channels,
                 16 x spatial), the encoder at its fixed width 128 and a 32-wide decoder, bf16; only on hosts
                 with FLUX.2                                                            -> vae
  wan22_ti2v     Wan 2.2 TI2V-5B layout: wan21_t2v with 48 latent channels in and out (the Wan 2.2 VAE's), 1.1 M
                 parameters, bf16                                                       -> diffusion_models
  taew2_2        TAEHV with 48 latent channels (what VAELoader builds from taew2_2: Wan 2.2 TI2V-5B's latent
                 space, 16 x spatial and 4 x temporal compression), fp32; only on hosts with TAEHV      -> vae
  hunyuan_video15  HunyuanVideo 1.5 layout, hidden 128 (1 head: detection fixes the head width at 128 and rope
                 (16,56,56)), 1 double block, text 3584, byT5 mapper and vision input as the real one, 65 channels
                 in, 32 out, 10.6 M parameters, bf16; only on hosts with HunyuanVideo 1.5      -> diffusion_models
  taehv_hv15     TAEHV with 32 latent channels (what VAELoader builds from lighttae_hv15: HunyuanVideo 1.5's
                 latent space, 16 x spatial and 4 x temporal compression), fp32; only on hosts with TAEHV -> vae
  z_image        Z-Image layout (Lumina 2's NextDiT as the ZImage config: detection fixes the width at 3840, 30
                 heads, text 2560, and the model always has 2 + 2 refiner layers), 1 joint layer, caption and image
                 padding tokens, 0.9 B parameters, bf16; only on hosts with Z-Image                -> diffusion_models
  clip_l_tiny    CLIP-L text model at its real size (123 M parameters; the host's long-CLIP support replaces any
                 clip_l config override with its own), bf16                             -> text_encoders
  t5xxl_tiny     T5-XXL text model, width 4096 (FLUX's context), 1 layer, full 32128 vocabulary, 133 M
                 parameters, bf16                                                       -> text_encoders
  umt5xxl_tiny   umT5-XXL text model, width 4096 (Wan's context), 24 layers, 2 heads, feed-forward 64, and a
                 64-piece SentencePiece tokenizer trained here from a fixed text (umT5's tokenizer ships inside
                 the model file), 44 M parameters, bf16. Not for Load CLIP: v0.20.1 recognises T5-XXL by its
                 10240-wide feed-forward; `standin_clip` builds it as the loader builds Wan's (in-process only)
                                                                                        -> text_encoders

T5-XXL and umT5 load only with their size: ComfyUI builds them from fixed JSON configs whatever the file holds, and
offers `model_options["<t5xxl|umt5xxl>_model_config"]` to override config fields. The file records its override in
its metadata (`te_model_options` reads it back); `comfy.sd.load_clip(..., model_options=te_model_options(paths))`
then loads it with the host's own classes, tokenizers and FLUX wiring (the test server's DualCLIPLoader gets it
through tests/harness/te_standin).

Weights: the key names and shapes come from ComfyUI's own classes (built on the meta device, so no memory and
no host initialisation is involved); then every tensor is drawn from its own torch.Generator seeded by
sha256(seed, family, key), in sorted key order: the result depends only on the seed, the recipe (VERSION) and
torch's RNG, never on construction order. Matrices/kernels ~ N(0, gain^2 / fan_in), biases ~ N(0, 0.02^2),
norm scales 1, Wan modulation ~ N(0, 1 / dim) (as Wan's own init), so activations stay O(1) and outputs are
finite.

This module is imported by tests/conftest.py before torch or ComfyUI are importable: keep the top level free
of those imports (they happen inside functions).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

VERSION = 1  # bump whenever a recipe below changes: the cache folder is named by it
DEFAULT_SEED = 20251011
MANIFEST_NAME = "manifest.json"
METADATA_KEY = "unlock_restore.tiny_models"

# NAME -> ComfyUI models sub-folder (the conftest links each file there).
MODEL_FOLDERS: dict[str, str] = {
    "flux_dev": "diffusion_models",
    "flux_dev_single": "diffusion_models",
    "flux_dev_fp8": "diffusion_models",
    "chroma": "diffusion_models",
    "chroma_radiance": "diffusion_models",
    "qwen_image": "diffusion_models",
    "wan21_t2v": "diffusion_models",
    "taesd_flux": "vae",
    "wan21_vae": "vae",
    "flux2": "diffusion_models",
    "flux2_vae": "vae",
    "wan22_ti2v": "diffusion_models",
    "taew2_2": "vae",
    "hunyuan_video15": "diffusion_models",
    "taehv_hv15": "vae",
    "z_image": "diffusion_models",
    "clip_l_tiny": "text_encoders",
    "t5xxl_tiny": "text_encoders",
    "umt5xxl_tiny": "text_encoders",
}

FILE_NAMES: dict[str, str] = {
    "flux_dev": "flux_dev_tiny.safetensors",
    "flux_dev_single": "flux_dev_tiny_single.safetensors",
    "flux_dev_fp8": "flux_dev_tiny_fp8.safetensors",
    "chroma": "chroma_tiny.safetensors",
    "chroma_radiance": "chroma_radiance_tiny.safetensors",
    "qwen_image": "qwen_image_tiny.safetensors",
    "wan21_t2v": "wan21_t2v_tiny.safetensors",
    "taesd_flux": "taesd_flux_tiny.safetensors",
    "wan21_vae": "wan21_vae.safetensors",
    "flux2": "flux2_tiny.safetensors",
    "flux2_vae": "flux2_vae_tiny.safetensors",
    "wan22_ti2v": "wan22_ti2v_tiny.safetensors",
    "taew2_2": "taew2_2_tiny.safetensors",
    "hunyuan_video15": "hunyuan_video15_tiny.safetensors",
    "taehv_hv15": "taehv_hv15_tiny.safetensors",
    "z_image": "z_image_tiny.safetensors",
    "clip_l_tiny": "clip_l_tiny.safetensors",
    "t5xxl_tiny": "t5xxl_tiny.safetensors",
    "umt5xxl_tiny": "umt5xxl_tiny.safetensors",
}

# What the stock loaders must detect: the supported_models class for diffusion models, the module class for VAEs.
EXPECTED_DETECTION: dict[str, str] = {
    "flux_dev": "Flux",
    "flux_dev_single": "Flux",
    "flux_dev_fp8": "Flux",
    "chroma": "Chroma",
    "chroma_radiance": "ChromaRadiance",
    "qwen_image": "QwenImage",
    "wan21_t2v": "WAN21_T2V",
    "taesd_flux": "comfy.taesd.taesd.TAESD",
    "wan21_vae": "comfy.ldm.wan.vae.WanVAE",
    "flux2": "Flux2",
    "flux2_vae": "comfy.ldm.models.autoencoder.AutoencoderKL",
    "wan22_ti2v": "WAN22_T2V",
    "taew2_2": "comfy.taesd.taehv.TAEHV",
    "hunyuan_video15": "HunyuanVideo15",
    "taehv_hv15": "comfy.taesd.taehv.TAEHV",
    "z_image": "ZImage",
    "clip_l_tiny": "comfy.clip_model.CLIPTextModel",
    "t5xxl_tiny": "comfy.text_encoders.t5.T5",
    "umt5xxl_tiny": "comfy.text_encoders.t5.T5",
}

# Architectures, as comfy/model_detection.py reads them back from the weights (FLUX: :177-221, Wan: :377-421).
FLUX_DEV_CONFIG = dict(in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096, hidden_size=3072,
                       mlp_ratio=4.0, num_heads=24, depth=1, depth_single_blocks=0, axes_dim=[16, 56, 56],
                       theta=10000, patch_size=2, qkv_bias=True, guidance_embed=True)
WAN21_T2V_CONFIG = dict(model_type="t2v", patch_size=(1, 2, 2), in_dim=16, dim=128, ffn_dim=256, freq_dim=256,
                        text_dim=4096, out_dim=16, num_heads=1, num_layers=2, window_size=(-1, -1), qk_norm=True,
                        cross_attn_norm=True, eps=1e-6)
# Chroma as the stock loader reads it back (comfy/model_detection.py, its Chroma branch): the approximator's sizes
# (64 -> 5120 x 5 layers -> 3072) are fixed there, so the width is the real one; one double block, as flux_dev.
# About 0.5 B parameters, 0.9 GB in bfloat16; the host's ChromaParams fields decide the newer ones (chroma_config).
CHROMA_CONFIG = dict(in_channels=64, out_channels=64, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
                     num_heads=24, depth=1, depth_single_blocks=0, axes_dim=[16, 56, 56], theta=10000, patch_size=2,
                     qkv_bias=True, in_dim=64, out_dim=3072, hidden_dim=5120, n_layers=5)
# Chroma Radiance as the stock loader reads it back (the same branch with the NeRF head's keys: 3 channels in and
# out, the head's sizes fixed: 64 wide, 4 blocks whose weights a 3072 -> 49152 linear makes per patch, so the head
# alone is 0.6 B parameters). 32 px patches, not the release's 16, where the loader reads the size from the file
# (v0.20.1; v0.3.64 fixes 16): that linear runs once per patch, 0.3 TFLOP per model call on a 256 px photo at 16 px,
# and the training workflow, which restores one at 20 steps, took 5.5 min on 2 cores. Where the host knows the x0
# variant (`__x0__` in the file: Comfy-Org's chroma-radiance-x0), the file is that one. About 1.1 B parameters,
# 2.1 GB in bfloat16.
CHROMA_RADIANCE_CONFIG = dict(CHROMA_CONFIG, in_channels=3, out_channels=3, patch_size=32, nerf_hidden_size=64,
                              nerf_mlp_ratio=4, nerf_depth=4, nerf_max_freqs=8, nerf_tile_size=512,
                              nerf_final_head_type="linear", use_x0=True)
# Qwen-Image as the stock loader reads it back (comfy/model_detection.py, its Qwen Image branch: only in_channels
# and the block count come from the file; 24 heads x 128, the 3584-wide text input and the rope axes are fixed), so
# the width is the real one; one block. About 0.38 B parameters, 0.76 GB in bfloat16.
QWEN_IMAGE_CONFIG = dict(patch_size=2, in_channels=64, out_channels=16, num_layers=1, attention_head_dim=128,
                         num_attention_heads=24, joint_attention_dim=3584, axes_dims_rope=(16, 56, 56))
# HunyuanVideo 1.5 as the stock loader reads it back (comfy/model_detection.py, its HunyuanVideo branch with the 1.5
# keys): the width from img_in (heads = width / 128), the text width from txt_in, the byT5 mapper (1472 -> 2048 ->
# width) and the vision input (1152) by their keys; 65 input channels (32 latent, 32 image condition, 1 mask).
HUNYUAN_VIDEO15_CONFIG = dict(in_channels=65, out_channels=32, patch_size=[1, 1, 1], vec_in_dim=None,
                              context_in_dim=3584, hidden_size=128, mlp_ratio=4.0, num_heads=1, depth=1,
                              depth_single_blocks=0, axes_dim=[16, 56, 56], theta=256, qkv_bias=True,
                              guidance_embed=False, byt5=True, meanflow=False, use_cond_type_embedding=True,
                              vision_in_dim=1152, meanflow_sum=True)
# FLUX.2 as the stock loader reads it back (comfy/model_detection.py, its FLUX.2 branch: heads = width / 128, the
# axes, mlp ratio, theta and 128 output channels fixed; the width and text width from img_in / txt_in), klein's kind
# (no guidance_in).
FLUX2_CONFIG = dict(in_channels=128, out_channels=128, vec_in_dim=None, context_in_dim=96, hidden_size=128,
                    mlp_ratio=3.0, num_heads=1, depth=1, depth_single_blocks=1, axes_dim=[32, 32, 32, 32], theta=2000,
                    patch_size=1, qkv_bias=False, guidance_embed=False, txt_ids_dims=[3], global_modulation=True,
                    mlp_silu_act=True, ops_bias=False, default_ref_method="index", ref_index_scale=10.0)
# The FLUX.2 VAE as comfy/sd.py reads it back (its default KL branch: the encoder's width 128 and channel multipliers
# are fixed, the decoder's width comes from decoder.conv_in, 32 z channels, `bn` turns on the batch-normed 2 x 2
# patch latent of 128 channels).
FLUX2_VAE_DDCONFIG = dict(double_z=True, z_channels=32, resolution=256, in_channels=3, out_ch=3, ch=128,
                          ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[], dropout=0.0,
                          batch_norm_latent=True)
FLUX2_VAE_DECODER_CH = 32
# Wan 2.2 TI2V-5B as the stock loader reads it back: a Wan 2.1 T2V layout with 48 output channels is WAN22_T2V.
WAN22_TI2V_CONFIG = dict(WAN21_T2V_CONFIG, in_dim=48, out_dim=48)
# Z-Image as the stock loader reads it back (comfy/model_detection.py, its Lumina 2 branch at dim 3840: the width,
# heads, rope axes, theta and feed-forward multiplier are fixed; the text width from cap_embedder, the layer count
# from the file, the padding to 32 tokens from cap_pad_token). NextDiT always builds 2 noise- and 2 context-refiner
# layers (n_refiner_layers is not read from the file), so one joint layer still makes five full-width layers.
Z_IMAGE_CONFIG = dict(patch_size=2, in_channels=16, dim=3840, n_layers=1, n_heads=30, n_kv_heads=30, qk_norm=True,
                      cap_feat_dim=2560, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512], rope_theta=256.0,
                      ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True, time_scale=1000.0, pad_tokens_multiple=32)
TAEHV_LATENT_CHANNELS = {"taehv_hv15": 32, "taew2_2": 48}
# Names only some hosts can build: NAME -> (a file of the checkout, a line it must contain, or None for the file
# alone). Read as text, so choosing the names needs no import of ComfyUI.
HOST_NEEDS: dict[str, tuple[str, str | None]] = {
    "hunyuan_video15": ("comfy/model_base.py", "class HunyuanVideo15("),
    "taehv_hv15": ("comfy/taesd/taehv.py", None),
    "taew2_2": ("comfy/taesd/taehv.py", None),
    "flux2": ("comfy/model_base.py", "class Flux2("),
    "flux2_vae": ("comfy/model_base.py", "class Flux2("),  # the bn latent arrived with FLUX.2
    "z_image": ("comfy/supported_models.py", "class ZImage("),
}
# flux_dev plus one single block (the stock loader counts blocks): what a single-block injection is tested on
# (GGUF + LoRA). 545 M parameters; built only on demand (not in DEFAULT_NAMES).
FLUX_DEV_SINGLE_CONFIG = dict(FLUX_DEV_CONFIG, depth_single_blocks=1)
# What `ensure_built` and the CLI build when not told otherwise; the others are built when a test asks for them.
ON_DEMAND = ("flux_dev_single",)
TAESD_LATENT_CHANNELS = 16
TAEF1_SCALE_SHIFT = (0.3611, 0.1159)  # nodes.py VAELoader.load_taesd("taef1"): the FLUX latent scale and shift
WAN21_VAE_CONFIG = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                        temperal_downsample=[False, True, True], dropout=0.0)  # comfy/sd.py, "Wan 2.1 VAE"

BIAS_STD = 0.02

# TAESD is plain ReLU convolutions with residual blocks and no norms: He gain (sqrt 2) before ReLUs, a small gain on
# the last conv of every residual branch (`Block.conv.4`) so the 12 blocks do not compound, gain 1 on the two
# output convs. Measured on a 64 px image: every layer's activations have std 0.4-1.1, latent std about 1.6.
TAESD_GAINS = ((r"\.conv\.4\.weight$", 0.3), (r"^taesd_(encoder\.14|decoder\.18)\.weight$", 1.0), (r"", math.sqrt(2.0)))

# NAME -> recipe. `family` names the weights (flux_dev_fp8 has flux_dev's); `dtype` is the storage dtype;
# `fp8` stores every >= 2-D weight as float8_e4m3fn; `gains`: (regex on the key, gain) for matrices, first match
# wins, default 1.
RECIPES: dict[str, dict] = {
    "flux_dev": dict(family="flux_dev", dtype="bfloat16", fp8=False, gains=()),
    "flux_dev_single": dict(family="flux_dev_single", dtype="bfloat16", fp8=False, gains=()),
    "flux_dev_fp8": dict(family="flux_dev", dtype="bfloat16", fp8=True, gains=()),
    "chroma": dict(family="chroma", dtype="bfloat16", fp8=False, gains=()),
    "chroma_radiance": dict(family="chroma_radiance", dtype="bfloat16", fp8=False, gains=()),
    "qwen_image": dict(family="qwen_image", dtype="bfloat16", fp8=False, gains=()),
    "wan21_t2v": dict(family="wan21_t2v", dtype="bfloat16", fp8=False, gains=()),
    "taesd_flux": dict(family="taesd_flux", dtype="float32", fp8=False, gains=TAESD_GAINS),
    "wan21_vae": dict(family="wan21_vae", dtype="bfloat16", fp8=False, gains=()),
    "hunyuan_video15": dict(family="hunyuan_video15", dtype="bfloat16", fp8=False, gains=()),
    # TAEHV is TAESD's kind of network (plain ReLU convolutions, residual blocks, no norms): its gains.
    "taehv_hv15": dict(family="taehv_hv15", dtype="float32", fp8=False, gains=TAESD_GAINS),
    "flux2": dict(family="flux2", dtype="bfloat16", fp8=False, gains=()),
    "flux2_vae": dict(family="flux2_vae", dtype="bfloat16", fp8=False, gains=()),
    "wan22_ti2v": dict(family="wan22_ti2v", dtype="bfloat16", fp8=False, gains=()),
    "taew2_2": dict(family="taew2_2", dtype="float32", fp8=False, gains=TAESD_GAINS),
    "z_image": dict(family="z_image", dtype="bfloat16", fp8=False, gains=()),
    "clip_l_tiny": dict(family="clip_l", dtype="bfloat16", fp8=False, gains=()),
    "t5xxl_tiny": dict(family="t5xxl", dtype="bfloat16", fp8=False, gains=()),
    "umt5xxl_tiny": dict(family="umt5xxl", dtype="bfloat16", fp8=False, gains=()),
}
# Text encoders: NAME -> (the host's model name, its JSON config next to the class, the fields overridden). The
# widths stay (4096 T5 context, 768 CLIP-L pooled), so FLUX reads them as from the real encoders.
TEXT_ENCODERS: dict[str, tuple[str, str, dict]] = {
    "clip_l_tiny": ("clip_l", "comfy/sd1_clip_config.json", {}),
    "t5xxl_tiny": ("t5xxl", "comfy/text_encoders/t5_config_xxl.json",
                   {"num_layers": 1, "num_heads": 2, "d_kv": 32, "d_ff": 64}),
    "umt5xxl_tiny": ("umt5xxl", "comfy/text_encoders/umt5_config_xxl.json",
                     {"num_heads": 2, "d_kv": 32, "d_ff": 64, "vocab_size": 64}),
}
FLUX_PAIR = ("clip_l_tiny", "t5xxl_tiny")  # loaded (and verified) together, as DualCLIPLoader does
# The stand-in umT5 tokenizer's training text (fixed: the model is a function of it and sentencepiece's version).
_SPIECE_WORDS = ("the a restoration prompt haze rain snow blur low light noise video image frame model bridge "
                 "sample train clean degraded photo").split()


def gain_for(name: str, key: str) -> float:
    import re

    return next((g for pattern, g in RECIPES[name]["gains"] if re.search(pattern, key)), 1.0)


def model_files(out_dir) -> dict[str, Path]:
    """NAME -> the file path in `out_dir` (exists after a build)."""
    out = Path(out_dir)
    return {name: out / FILE_NAMES[name] for name in MODEL_FOLDERS}


def cache_root() -> Path:
    """$UNLOCK_CACHE, else ~/.cache/unlock-restore: the cache shared by the tests, demo and benchmarks."""
    return Path(os.environ.get("UNLOCK_CACHE") or Path.home() / ".cache" / "unlock-restore")


def host_key(comfyui) -> str:
    """The cache key of a host: its ComfyUI version (comfyui_version.py), e.g. 'comfyui-0.20.1'. Checkpoints are
    keyed by host because the host's classes decide the key names (v0.20.1 renamed FLUX's q/k norm `.scale` to
    `.weight`) and the loader they must pass; two checkouts of one version share a cache."""
    import re

    try:
        text = (Path(comfyui) / "comfyui_version.py").read_text()
        version = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", text).group(1)
    except (OSError, AttributeError):
        version = "unknown"
    return "comfyui-" + re.sub(r"[^A-Za-z0-9._-]", "_", version)


def ensure_built(comfyui, python: str = sys.executable, only=None, quiet: bool = False,
                 cache: Path | None = None) -> dict[str, Path]:
    """Build the tiny checkpoints not cached yet (all, or the names in `only`) under `cache` (default
    `cache_root()`); NAME -> file. A subprocess: building imports ComfyUI with its own arguments and takes a few
    GB that are freed after."""
    out = Path(cache or cache_root()) / f"tiny-models-v{VERSION}-{host_key(comfyui)}"
    names = list(only) if only else default_names(comfyui)
    cmd = [python, str(Path(__file__).resolve()), "--comfyui", str(comfyui), "--out", str(out)]
    subprocess.run(cmd + ["--only", ",".join(names)], check=True, stdout=subprocess.DEVNULL if quiet else None)
    return {n: p for n, p in model_files(out).items() if n in names}


def default_names(comfyui=None) -> list[str]:
    """The names built when not told otherwise: all but ON_DEMAND, and (given a checkout) only those its host can
    build."""
    return [n for n in MODEL_FOLDERS if n not in ON_DEMAND and (comfyui is None or host_supports(comfyui, n))]


def host_supports(comfyui, name: str) -> bool:
    """Whether the ComfyUI checkout `comfyui` has the classes NAME is built and loaded with (HOST_NEEDS)."""
    return host_lacks(comfyui, name) is None


def host_lacks(comfyui, name: str) -> str | None:
    """What the checkout `comfyui` lacks to build and load NAME (HOST_NEEDS), in words; None when it has it."""
    if name not in HOST_NEEDS:
        return None
    rel, line = HOST_NEEDS[name]
    try:
        text = (Path(comfyui) / rel).read_text(encoding="utf-8")
    except OSError:
        text = None
    if text is not None and (line is None or line in text):
        return None
    return rel + (f" with '{line}'" if line else "")


# ---------------------------------------------------------------------------------------------------------------
# ComfyUI on CPU


def import_comfyui(comfyui) -> None:
    """Import ComfyUI from a checkout on CPU (`--cpu` parsed before comfy.model_management is imported)."""
    comfyui = Path(comfyui).expanduser().resolve()
    if not ((comfyui / "main.py").is_file() and (comfyui / "comfy").is_dir()):
        raise SystemExit(f"tiny_models: no ComfyUI checkout at {comfyui}")
    if str(comfyui) not in sys.path:
        sys.path.insert(0, str(comfyui))
    import comfy.options

    comfy.options.enable_args_parsing()
    saved_argv = sys.argv
    sys.argv = [str(comfyui / "main.py"), "--cpu"]
    try:
        import comfy.cli_args  # noqa: F401  (parses sys.argv once, on first import)
        import comfy.model_management  # noqa: F401
    finally:
        sys.argv = saved_argv


def text_encoder_config(name: str) -> dict:
    """The full config the host builds NAME with: its own JSON (read from the imported checkout) plus the
    override the file records."""
    import comfy.sd1_clip

    _, rel, override = TEXT_ENCODERS[name]
    path = Path(comfy.sd1_clip.__file__).resolve().parents[1] / rel  # the checkout (comfy/ is a namespace package)
    return {**json.loads(path.read_text()), **override}


def spiece_model() -> bytes:
    """A 64-piece SentencePiece model (pad 0, end 1, unknown 2, as umT5's) trained from a fixed text: the
    tokenizer the umT5 stand-in carries as its `spiece_model` tensor. Deterministic (one thread)."""
    import io

    import sentencepiece

    text = [" ".join(_SPIECE_WORDS[(i * 7 + j) % len(_SPIECE_WORDS)] for j in range(12)) for i in range(200)]
    buf = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=buf, vocab_size=64,
                                             pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1,
                                             hard_vocab_limit=False, minloglevel=2)
    return buf.getvalue()


def standin_clip(paths, clip_type: str | None = None):
    """A CLIP (comfy.sd.CLIP) from tiny text-encoder files, with the host's own classes, tokenizers and options:
    FLUX's pair (clip_l_tiny + t5xxl_tiny) through `comfy.sd.load_clip`, DualCLIPLoader's call; umt5xxl_tiny as that
    loader builds a Wan T5-XXL (its WAN branch: `wan.te`, `WanT5Tokenizer`, the file's `spiece_model`), and
    t5xxl_tiny with `clip_type="chroma"` as Load CLIP (type chroma) builds Chroma's (its PIXART/CHROMA branch:
    `pixart_t5.pixart_te`, `PixArtTokenizer`), because single-file detection there needs full depth."""
    import inspect

    import comfy.sd
    import comfy.text_encoders.pixart_t5
    import comfy.text_encoders.wan
    import comfy.utils

    paths = [str(p) for p in paths]
    wan = [Path(p).name for p in paths] == [FILE_NAMES["umt5xxl_tiny"]]
    if not wan and clip_type != "chroma":
        return comfy.sd.load_clip(paths, clip_type=comfy.sd.CLIPType.FLUX, model_options=te_model_options(paths))
    sd = comfy.utils.load_torch_file(paths[0], safe_load=True)
    target = type("StandinTarget", (), {})()
    target.params = {}
    kwargs = dict(parameters=comfy.utils.calculate_parameters(sd), model_options=te_model_options(paths))
    if wan:
        target.clip = comfy.text_encoders.wan.te(**comfy.sd.t5xxl_detect([sd]))
        target.tokenizer = comfy.text_encoders.wan.WanT5Tokenizer
        kwargs["tokenizer_data"] = {"spiece_model": sd["spiece_model"]}
    else:
        target.clip = comfy.text_encoders.pixart_t5.pixart_te(**comfy.sd.t5xxl_detect([sd]))
        target.tokenizer = comfy.text_encoders.pixart_t5.PixArtTokenizer
    if "state_dict" in inspect.signature(comfy.sd.CLIP.__init__).parameters:  # v0.20.1 loads it on construction
        return comfy.sd.CLIP(target, state_dict=[sd], **kwargs)
    clip = comfy.sd.CLIP(target, **kwargs)
    clip.load_sd(sd)
    return clip


def te_model_options(paths, model_options: dict | None = None) -> dict:
    """`model_options` plus the config override each tiny text-encoder file in `paths` records (other files add
    nothing): what makes `comfy.sd.load_clip` build them at their size. Reads headers only."""
    from safetensors import safe_open

    out = dict(model_options or {})
    for path in paths:
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "{}"))
        except (OSError, ValueError, RuntimeError):
            continue  # not a safetensors file, or not ours: the host loads it as it would
        for model_name, config in (meta.get("model_config") or {}).items():
            out[f"{model_name}_model_config"] = config
    return out


def flux_host_config(config: dict) -> dict:
    """A FLUX config for the imported host's own `Flux` class: `config` plus the fields this host's FluxParams
    requires that older hosts lack. v0.20.1 requires `txt_ids_dims` (the stock loader sets [] for FLUX.1,
    comfy/model_detection.py:221); passing it to v0.3.64 would be an error. The one place that knows this, for
    every in-process FLUX construction (tiny checkpoints, test models, benchmarks)."""
    import dataclasses

    import comfy.ldm.flux.model

    fields = {f.name for f in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}
    out = dict(config)
    if "txt_ids_dims" in fields:
        out.setdefault("txt_ids_dims", [])
    return out


def chroma_config(config: dict) -> dict:
    """A Chroma config for the imported host's own class: v0.20.1's ChromaParams also requires `txt_ids_dims` and
    `vec_in_dim` (the stock loader sets [] and None for Chroma); v0.3.64's has neither."""
    import dataclasses

    import comfy.ldm.chroma.model

    fields = {f.name for f in dataclasses.fields(comfy.ldm.chroma.model.ChromaParams)}
    out = dict(config)
    for key, value in (("txt_ids_dims", []), ("vec_in_dim", None)):
        if key in fields:
            out.setdefault(key, value)
    return out


def chroma_radiance_config(config: dict) -> dict:
    """chroma_config for Radiance's params: the embedder dtype as the loader sets it, `use_x0` only where the
    host's ChromaRadianceParams has it (v0.20.1; v0.3.64 has no x0 variant), 16 px patches where the loader does
    not read the size from the file (v0.3.64)."""
    import dataclasses
    import inspect

    import torch
    import comfy.ldm.chroma_radiance.model

    fields = {f.name for f in dataclasses.fields(comfy.ldm.chroma_radiance.model.ChromaRadianceParams)}
    import comfy.model_detection

    out = dict(chroma_config(config), nerf_embedder_dtype=torch.float32)
    if "use_x0" not in fields:
        out.pop("use_x0")
    if "img_in_patch.weight" not in inspect.getsource(comfy.model_detection):
        out["patch_size"] = 16  # v0.3.64's loader fixes the release's 16 px patches
    return out


def _template(name: str) -> dict[str, tuple]:
    """Key -> shape of NAME's state dict, from ComfyUI's own module built on the meta device."""
    import torch
    import comfy.ops

    ops = comfy.ops.disable_weight_init
    family = RECIPES[name]["family"]
    with torch.device("meta"):
        if family in ("flux_dev", "flux_dev_single"):
            import comfy.ldm.flux.model

            config = FLUX_DEV_CONFIG if family == "flux_dev" else FLUX_DEV_SINGLE_CONFIG
            module = comfy.ldm.flux.model.Flux(image_model="flux", operations=ops, **flux_host_config(config))
        elif family == "chroma":
            import comfy.ldm.chroma.model

            module = comfy.ldm.chroma.model.Chroma(image_model="chroma", operations=ops, **chroma_config(CHROMA_CONFIG))
        elif family == "chroma_radiance":
            import comfy.ldm.chroma_radiance.model

            module = comfy.ldm.chroma_radiance.model.ChromaRadiance(
                image_model="chroma_radiance", operations=ops, **chroma_radiance_config(CHROMA_RADIANCE_CONFIG))
        elif family == "qwen_image":
            import comfy.ldm.qwen_image.model

            module = comfy.ldm.qwen_image.model.QwenImageTransformer2DModel(operations=ops, **QWEN_IMAGE_CONFIG)
        elif family == "flux2":
            import comfy.ldm.flux.model

            module = comfy.ldm.flux.model.Flux(image_model="flux2", operations=ops, **FLUX2_CONFIG)
        elif family == "flux2_vae":
            import comfy.ldm.models.autoencoder

            module = comfy.ldm.models.autoencoder.AutoencoderKL(
                ddconfig=FLUX2_VAE_DDCONFIG, embed_dim=FLUX2_VAE_DDCONFIG["z_channels"],
                decoder_ddconfig=dict(FLUX2_VAE_DDCONFIG, ch=FLUX2_VAE_DECODER_CH))
        elif family in ("wan21_t2v", "wan22_ti2v"):
            import comfy.ldm.wan.model

            module = comfy.ldm.wan.model.WanModel(
                operations=ops, **(WAN21_T2V_CONFIG if family == "wan21_t2v" else WAN22_TI2V_CONFIG))
        elif family == "taesd_flux":
            import comfy.taesd.taesd

            module = comfy.taesd.taesd.TAESD(latent_channels=TAESD_LATENT_CHANNELS)
        elif family == "wan21_vae":
            import comfy.ldm.wan.vae

            module = comfy.ldm.wan.vae.WanVAE(**WAN21_VAE_CONFIG)
        elif family == "hunyuan_video15":
            import comfy.ldm.hunyuan_video.model

            module = comfy.ldm.hunyuan_video.model.HunyuanVideo(operations=ops, **HUNYUAN_VIDEO15_CONFIG)
        elif family == "z_image":
            import comfy.ldm.lumina.model

            module = comfy.ldm.lumina.model.NextDiT(operations=ops, **Z_IMAGE_CONFIG)
        elif family in TAEHV_LATENT_CHANNELS:
            import comfy.taesd.taehv

            module = comfy.taesd.taehv.TAEHV(latent_channels=TAEHV_LATENT_CHANNELS[family])
        elif name in TEXT_ENCODERS:
            import comfy.clip_model
            import comfy.text_encoders.t5

            cls = comfy.clip_model.CLIPTextModel if family == "clip_l" else comfy.text_encoders.t5.T5  # T5 and umT5
            module = cls(text_encoder_config(name), None, None, ops)
        else:
            raise KeyError(name)
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------------------------------------------
# Weights


def key_seed(seed: int, family: str, key: str) -> int:
    """The generator seed of one tensor: a function of (seed, family, key) only."""
    digest = hashlib.sha256(f"{seed}\0{family}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def init_tensor(key: str, shape: tuple, seed: int, family: str, gain: float = 1.0):
    """One fp32 tensor of the recipe, drawn from its own generator (see the module docstring)."""
    import torch

    leaf = key.rsplit(".", 1)[-1]
    if family == "taesd_flux" and key in ("vae_scale", "vae_shift"):
        return torch.tensor(TAEF1_SCALE_SHIFT[0] if key == "vae_scale" else TAEF1_SCALE_SHIFT[1])
    if leaf == "running_var":
        return torch.ones(shape)  # the FLUX.2 VAE's latent batch norm: the identity
    if leaf == "running_mean":
        return torch.zeros(shape)
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    if key == "__x0__":
        return torch.zeros(shape)  # Chroma Radiance's empty x0-variant marker: its presence is the whole message
    if leaf in ("gamma", "scale") or (leaf == "weight" and len(shape) == 1):
        return torch.ones(shape)  # norm scales (RMSNorm/LayerNorm weights, Wan VAE gamma, FLUX q/k norm scale)
    if leaf == "bias":
        std = BIAS_STD
    elif leaf == "weight" and len(shape) == 2 and family in ("t5xxl", "umt5xxl", "clip_l") and (
            "embedding" in key or key == "shared.weight" or "relative_attention_bias" in key):
        std = 1.0  # token / position embeddings and T5's relative bias table: lookups, not matrices
    elif leaf.endswith("_pad_token"):
        std = 1.0  # Z-Image's learned padding rows, in the embedded space (O(1), as the embedded tokens)
    elif leaf == "modulation":
        std = shape[-1] ** -0.5  # Wan: randn(1, n, dim) / dim ** 0.5
    elif leaf == "weight" and len(shape) >= 2:
        std = gain / math.sqrt(math.prod(shape[1:]))  # Linear (out, in), Conv (out, in, *kernel)
    else:
        raise ValueError(f"tiny_models: no init rule for {family} tensor {key} {shape}")
    gen = torch.Generator().manual_seed(key_seed(seed, family, key))
    return torch.empty(shape).normal_(0.0, std, generator=gen)


def build_state_dict(name: str, seed: int, template: dict[str, tuple] | None = None, fp8: bool | None = None) -> dict:
    """NAME's weights in storage dtypes, every tensor initialised in sorted key order from the seed.

    `fp8=None` follows the recipe; False gives the unquantised weights (flux_dev's for flux_dev_fp8).
    """
    import torch

    recipe = RECIPES[name]
    template = _template(name) if template is None else template
    dtype = getattr(torch, recipe["dtype"])
    sd = {}
    for key in sorted(template):
        t = init_tensor(key, template[key], seed, recipe["family"], gain_for(name, key))
        sd[key] = t.to(dtype) if t.is_floating_point() else t  # a batch norm's step count stays an integer
    return to_fp8(sd) if (recipe["fp8"] if fp8 is None else fp8) else sd


def to_fp8(sd: dict) -> dict:
    """Every >= 2-D weight as float8_e4m3fn (like released fp8 FLUX files); biases and norms keep their dtype."""
    import torch

    return {k: (v.to(torch.float8_e4m3fn) if k.endswith(".weight") and v.ndim >= 2 else v) for k, v in sd.items()}


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 23), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic_safetensors(sd: dict, path: Path, metadata: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(sd, str(tmp), metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors creates 0600 files
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_atomic_json(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------
# Manifest and cache


def read_manifest(out_dir) -> dict:
    path = Path(out_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest.get("files"), dict):
        manifest["files"] = {}
    return manifest


def is_cached(manifest: dict, out_dir, name: str, seed: int) -> bool:
    """Trust the manifest (no hashing) unless version, seed or file size disagree."""
    entry = manifest.get("files", {}).get(name)
    path = model_files(out_dir)[name]
    if not entry or entry.get("version") != VERSION or entry.get("seed") != seed:
        return False
    try:
        return path.stat().st_size == entry.get("size")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(out_dir: Path):
    """Exclusive lock on the output folder: test sessions running at once build each file once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out_dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------------
# Verification through the stock loaders


def verify(name: str, path) -> str:
    """Load `path` through ComfyUI's stock loader; check detection and keys. Returns a one-line description."""
    import torch

    import comfy.sd
    import comfy.utils
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        file_keys = set(f.keys())
    if name in TEXT_ENCODERS:
        if name in FLUX_PAIR:  # loaded as FLUX's pair (DualCLIPLoader's call): the other file is beside this one
            pair = [Path(path).with_name(FILE_NAMES[n]) for n in FLUX_PAIR]
            clip_type, want_len, want_pooled = comfy.sd.CLIPType.FLUX, 256, True
        else:
            pair = [Path(path)]
            clip_type, want_len, want_pooled = comfy.sd.CLIPType.WAN, 512, False
        clip = standin_clip(pair)
        module = getattr(clip.cond_stage_model, TEXT_ENCODERS[name][0]).transformer
        cls = type(module)
        detected = f"{cls.__module__}.{cls.__name__}"
        model_keys = set(module.state_dict()) | ({"spiece_model"} if name == "umt5xxl_tiny" else set())
        out = clip.encode_from_tokens(clip.tokenize(""), return_pooled=True, return_dict=True)
        cond, pooled = out["cond"], out.get("pooled_output")
        if tuple(cond.shape) != (1, want_len, 4096) or (pooled is not None) != want_pooled or not (
                torch.isfinite(cond).all() and (pooled is None or torch.isfinite(pooled).all())):
            raise RuntimeError(f"tiny_models: {path} encodes the empty text to {tuple(cond.shape)}, pooled "
                               f"{None if pooled is None else tuple(pooled.shape)}: not what {clip_type.name} needs")
        extra = (f"{clip_type.name}: context {tuple(cond.shape)}"
                 + (f", pooled {tuple(pooled.shape)}" if pooled is not None else ""))
        del clip, module
    elif MODEL_FOLDERS[name] == "diffusion_models":
        patcher = comfy.sd.load_diffusion_model(str(path))
        model = patcher.model
        detected = type(model.model_config).__name__
        model_keys = set(model.diffusion_model.state_dict())
        cfg = model.model_config.unet_config
        extra = (f"model_base.{type(model).__name__}, {cfg.get('image_model')}"
                 f"{', guidance_in' if cfg.get('guidance_embed') else ''}, "
                 f"weights loaded as {str(next(model.diffusion_model.parameters()).dtype).replace('torch.', '')}")
        del patcher, model
    else:
        vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(path)))
        vae.throw_exception_if_invalid()
        cls = type(vae.first_stage_model)
        detected = f"{cls.__module__}.{cls.__name__}"
        model_keys = set(vae.first_stage_model.state_dict())
        extra = f"{vae.latent_channels} latent channels, runs in {str(vae.vae_dtype).replace('torch.', '')}"
        del vae
    gc.collect()
    problems = []
    if detected != EXPECTED_DETECTION[name]:
        problems.append(f"detected {detected}, expected {EXPECTED_DETECTION[name]}")
    if model_keys - file_keys:
        problems.append(f"missing keys {sorted(model_keys - file_keys)[:5]}")
    if file_keys - model_keys:
        problems.append(f"unused keys {sorted(file_keys - model_keys)[:5]}")
    if problems:
        raise RuntimeError(f"tiny_models: {path} failed verification: " + "; ".join(problems))
    return f"{detected} ({extra})"


# ---------------------------------------------------------------------------------------------------------------
# CLI


def _mib(n: int) -> str:
    return f"{n / 2**20:7.1f} MiB"


def _params(n: int) -> str:
    return f"{n / 1e6:8.2f} M params"


def build(names: list[str], out_dir: Path, seed: int, force: bool = False, do_verify: bool = True,
          log=print) -> dict[str, Path]:
    """Build the missing files of `names` into `out_dir` (ComfyUI already imported); returns model_files."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    files = model_files(out_dir)
    with _locked(out_dir):
        for stale in out_dir.glob(".*.tmp"):  # left by a killed build (no other build runs while we hold the lock)
            stale.unlink(missing_ok=True)
        manifest = read_manifest(out_dir)
        manifest.update(version=VERSION, generator="tools/tiny_models.py")
        todo = [n for n in names if force or not is_cached(manifest, out_dir, n, seed)]
        to_verify, shared = [], {}  # shared: family -> unquantised weights still needed by a later name
        for name in names:
            entry = manifest["files"].get(name, {})
            if name not in todo:
                log(f"cached {name:13s} {files[name].name:32s} {_mib(entry['size'])} {_params(entry['params'])}")
                if do_verify and not entry.get("verified"):
                    to_verify.append(name)
                continue
            t0 = time.perf_counter()
            recipe = RECIPES[name]
            family = recipe["family"]
            base = shared.pop(family, None)
            if base is None:
                base = build_state_dict(name, seed, fp8=False)
            if any(RECIPES[n]["family"] == family for n in todo[todo.index(name) + 1:]):
                shared[family] = base
            sd = to_fp8(base) if recipe["fp8"] else base
            params = sum(v.numel() for v in sd.values())
            if family == "umt5xxl":  # the tokenizer rides in the file, as in Comfy-Org's umT5 releases
                sd = {**sd, "spiece_model": torch.frombuffer(bytearray(spiece_model()), dtype=torch.uint8)}
            # One metadata entry only: safetensors keeps metadata in a hash map, so the order of several entries
            # in the header (and the file's bytes) would vary from run to run.
            record = {"name": name, "version": VERSION, "seed": seed, "family": family,
                      "recipe": {k: v for k, v in recipe.items() if k != "family"}}
            if name in TEXT_ENCODERS and TEXT_ENCODERS[name][2]:
                record["model_config"] = {TEXT_ENCODERS[name][0]: TEXT_ENCODERS[name][2]}
            meta = {METADATA_KEY: json.dumps(record, sort_keys=True)}
            _write_atomic_safetensors(sd, files[name], meta)
            del sd, base
            gc.collect()
            size = files[name].stat().st_size
            manifest["files"][name] = dict(
                file=files[name].name, folder=MODEL_FOLDERS[name], version=VERSION, seed=seed,
                sha256=sha256_file(files[name]), size=size, params=params, torch=torch.__version__,
                dtype=recipe["dtype"] + ("+float8_e4m3fn" if recipe["fp8"] else ""), verified=None)
            _write_atomic_json(manifest, out_dir / MANIFEST_NAME)
            log(f"built  {name:13s} {files[name].name:32s} {_mib(size)} {_params(params)} "
                f"{time.perf_counter() - t0:6.1f} s")
            to_verify.append(name)
        shared.clear()
        gc.collect()
        if do_verify:
            for name in to_verify:
                t0 = time.perf_counter()
                try:
                    desc = verify(name, files[name])
                except Exception:
                    manifest["files"].pop(name, None)
                    _write_atomic_json(manifest, out_dir / MANIFEST_NAME)
                    files[name].unlink(missing_ok=True)
                    raise
                manifest["files"][name]["verified"] = desc
                _write_atomic_json(manifest, out_dir / MANIFEST_NAME)
                log(f"loads  {name:13s} as {desc} {time.perf_counter() - t0:6.1f} s")
    return files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--comfyui", required=True, help="a ComfyUI checkout (imported on CPU)")
    p.add_argument("--out", required=True, help="output folder (manifest.json goes there)")
    p.add_argument("--only", default="", help=f"comma-separated names from {', '.join(MODEL_FOLDERS)}")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.add_argument("--no-verify", action="store_true", help="skip loading new files through the stock loaders")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or default_names(args.comfyui)
    unknown = [n for n in names if n not in MODEL_FOLDERS]
    if unknown:
        p.error(f"unknown model name(s) {unknown}; known: {', '.join(MODEL_FOLDERS)}")
    unsupported = [n for n in names if not host_supports(args.comfyui, n)]
    if unsupported:
        p.error(f"{unsupported}: this ComfyUI ({args.comfyui}) lacks what they need: "
                + "; ".join(f"{n}: {host_lacks(args.comfyui, n)}" for n in unsupported))
    if any(n in FLUX_PAIR for n in names):
        names = names + list(FLUX_PAIR)  # verified as a pair: one needs the other
    names = [n for n in MODEL_FOLDERS if n in names]  # canonical order: flux_dev right before flux_dev_fp8
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    manifest = read_manifest(out)
    if not args.force and all(is_cached(manifest, out, n, args.seed) and (args.no_verify or
                                                                          manifest["files"][n].get("verified"))
                              for n in names):
        for n in names:  # fast path: no torch, no ComfyUI
            e = manifest["files"][n]
            print(f"cached {n:13s} {e['file']:32s} {_mib(e['size'])} {_params(e['params'])}")
        return 0
    import_comfyui(args.comfyui)
    build(names, out, args.seed, force=args.force, do_verify=not args.no_verify)
    print(f"tiny_models: {len(names)} file(s) ready in {out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
