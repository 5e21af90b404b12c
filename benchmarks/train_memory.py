#!/usr/bin/env python3
"""Expected training memory for FLUX.1-dev and Wan2.1-T2V-1.3B, derived from measured activation sizes.

    python benchmarks/train_memory.py [--comfyui PATH] [--out benchmarks/results/train_memory.json]

What is measured (on any machine, CPU is fine): the bytes autograd saves for the backward pass of ONE real-width
block of each kind (FLUX double 3072/24 heads, FLUX single, Wan 1.3B 1536/12 heads, ffn 8960), built from
ComfyUI's own classes (one block of each kind in a small ModelPatcher at the real width), with the prompt injected
as Train injects it (model_info, PromptState, install_prompt: the families' object patches) and the same
saved-tensor hook the trainer uses, at three
token counts; a fit a*N + b*N^2 per block kind extrapolates to the real token counts (FLUX 1024x1024:
4096 image + 512 text tokens; Wan 480x832x33: 14040 video + 226 text tokens). Parameter counts come from the
full models built on the meta device (no memory). The estimate:
    without checkpointing: weights + sum over blocks of saved(N)     (N^2 attention term dropped, see below)
    with checkpointing:    weights + sum over blocks of block inputs(N) + max saved(N) (one block recomputed)
in bf16 activations (weights bf16 or fp8). Not included: the CUDA context and allocator slack (~1-3 GB), the
VAE and text encoder (unloaded while training; latents are encoded once).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GB = 1024 ** 3


def _setup(comfyui: Path):
    """ComfyUI's modules on CPU, and this pack importable as `unlock_restore` (tests/harness/host.py's way)."""
    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import pack_on_path

    pack_on_path()
    sys.path.insert(0, str(comfyui))
    import comfy.options

    comfy.options.enable_args_parsing()
    argv, sys.argv = sys.argv, [str(comfyui / "main.py"), "--cpu"]
    try:
        import comfy.cli_args  # noqa: F401
        import utils.extra_config  # noqa: F401
        import comfy.model_management  # noqa: F401
    finally:
        sys.argv = argv


def saved_bytes(module, fn, *inputs) -> int:
    """Bytes of the distinct activation tensors autograd saves while running fn (the module's own weights, which
    the backward also references, are counted with the weights, not here), under the trainer's hook."""
    import torch

    seen: dict[int, int] = {}
    weights = {p.untyped_storage().data_ptr() for p in module.parameters()}

    def pack(t):
        t = t.clone() if t.requires_grad and not t.is_leaf else t  # what exact_inplace_autograd saves
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*inputs)
    del out
    return sum(seen.values())


def _prompted_blocks(patcher, tokens: int, width: int):
    """The model's diffusion_model with a trainable gated prompt installed as Train installs it (model_info's family
    and blocks, PromptState, install_prompt: the family's object patches), loaded so the patches are in place."""
    import torch
    import comfy.model_management

    from unlock_restore.nodes.injection import PromptState, install_prompt
    from unlock_restore.nodes.model_info import model_info

    info = model_info(patcher)
    state = PromptState([(torch.zeros(tokens, width, requires_grad=True),
                          torch.ones(sum(info.blocks.values()), requires_grad=True))], 1.0, "train_memory")
    install_prompt(patcher, state, info.family, info.blocks)
    comfy.model_management.load_models_gpu([patcher])
    dm = patcher.model.diffusion_model
    for p in dm.parameters():  # frozen, as training leaves them: autograd saves only what P and the gates need
        p.requires_grad_(False)
    return dm


def measure(comfyui: Path) -> dict:
    import torch
    from comfy.ldm.flux.layers import EmbedND

    from harness.small_models import small_flux, small_wan

    torch.manual_seed(0)
    res = {}
    D, H = 3072, 24
    pe_embed = EmbedND(dim=D // H, theta=10000, axes_dim=[16, 56, 56])
    # One double and one single block at FLUX.1's width, with the shipped injection (nodes/families/flux.py's object
    # patches through install_prompt, as Apply and Train install them), P and the gates trainable.
    K = 64
    flux = _prompted_blocks(small_flux(hidden=D, heads=H, depth=1, single=1), K, D)
    dbl, sgl = flux.double_blocks[0], flux.single_blocks[0]
    fits = {"flux_double": [], "flux_single": []}
    for n_img in (64, 128, 256):
        ids = torch.zeros(1, K + n_img, 3)
        ids[0, K:, 1] = torch.arange(n_img)
        pe = pe_embed(ids)
        img, vec = torch.randn(1, n_img, D), torch.randn(1, D)
        txt = torch.randn(1, K, D)

        def double(img, txt):  # the prompt enters the text stream, so everything downstream needs grad
            return dbl(img=img, txt=txt, vec=vec, pe=pe)

        def single(x):
            return sgl(x, vec=vec, pe=pe)
        fits["flux_double"].append((K + n_img, saved_bytes(dbl, double, img, txt)))
        fits["flux_single"].append((K + n_img, saved_bytes(sgl, single, torch.randn(1, K + n_img, D))))
    del dbl, sgl, flux
    Dw, Hw = 1536, 12
    Kw = 226
    # One Wan 2.1 1.3B block (dim 1536, 12 heads, ffn 8960), its cross-attention patched by install_prompt.
    wan = _prompted_blocks(small_wan(dim=Dw, heads=Hw, layers=1, ffn=8960), Kw, Dw).blocks[0]
    d = Dw // Hw
    wan_rope = EmbedND(dim=d, theta=10000.0, axes_dim=[d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)])  # as WanModel
    fits["wan_block"] = []
    for n in (64, 128, 256):
        x = torch.randn(1, n, Dw)
        e = torch.randn(1, 6, Dw)
        ctx = torch.randn(1, Kw, Dw)
        grid = torch.zeros(1, n, 3)
        grid[0, :, 2] = torch.arange(n)
        freqs = wan_rope(grid).movedim(1, 2)

        def block(x):  # the patched cross_attn runs attn(x, c) + a attn(x, c + P) inside the block
            return wan(x, e=e, freqs=freqs, context=ctx, transformer_options={})
        fits["wan_block"].append((n, saved_bytes(wan, block, x)))
    res["measured_fp32_saved_bytes"] = fits
    return res


def fit(points):
    """bytes = c + a N + b N^2 through the three measured (N, bytes) points."""
    import numpy as np

    n = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    c, a, b = np.linalg.solve(np.stack([np.ones_like(n), n, n ** 2], 1), y)
    return float(c), float(a), float(b)


def params_of(comfyui: Path) -> dict:
    import torch
    import comfy.ops
    from comfy.ldm.flux.model import Flux
    from comfy.ldm.wan.model import WanModel

    from harness.small_models import flux_host_config

    ops = comfy.ops.disable_weight_init
    # flux_host_config: the fields this host's Flux also requires (txt_ids_dims on v0.20.1).
    flux = Flux(**flux_host_config(dict(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096,
                                        hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=19,
                                        depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10000, patch_size=2,
                                        qkv_bias=True, guidance_embed=True)), device="meta", operations=ops)
    wan = WanModel(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, device="meta", operations=ops)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"FLUX.1-dev": count(flux), "Wan2.1-T2V-1.3B": count(wan)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH", str(Path.home() / "ComfyUI")))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_memory.json"))
    args = ap.parse_args()
    comfyui = Path(args.comfyui)
    _setup(comfyui)
    measured = measure(comfyui)["measured_fp32_saved_bytes"]
    params = params_of(comfyui)
    bf16 = 0.5  # activations are saved in the compute dtype: bf16 on GPU, measured here in fp32
    cases = {
        "FLUX.1-dev 1024x1024": dict(params=params["FLUX.1-dev"], blocks=[("flux_double", 19), ("flux_single", 38)],
                                     tokens=4096 + 512, width=3072, text=512),
        "Wan2.1-T2V-1.3B 480x832x33": dict(params=params["Wan2.1-T2V-1.3B"], blocks=[("wan_block", 30)],
                                           tokens=9 * 30 * 52, width=1536, text=226),
    }
    out = {"measured_fp32_saved_bytes": measured, "fits_c_a_b": {k: fit(v) for k, v in measured.items()},
           "params": params, "estimates": {}}
    # The N^2 term is the attention matrix that CPU (math) attention saves; on CUDA, ComfyUI's default PyTorch
    # SDPA (flash / memory-efficient) saves only O(N) per head, so the GPU estimate drops it.
    print(f"{'case':<34}{'weights':>9}{'no ckpt':>9}{'ckpt':>9}   (GiB, bf16 activations, flash attention)")
    for name, c in cases.items():
        n = c["tokens"]
        per_block = {k: bf16 * (lambda f: f[0] + f[1] * n)(fit(measured[k])) for k, _ in c["blocks"]}
        saved_all = sum(per_block[k] * count for k, count in c["blocks"])
        inputs_all = sum(count for _, count in c["blocks"]) * 2 * bf16 * 4 * n * c["width"]  # block input(s), cloned
        for wname, wbytes in (("bf16", 2), ("fp8", 1)):
            weights = c["params"] * wbytes
            est = {"weights_GiB": weights / GB, "no_checkpointing_GiB": (weights + saved_all) / GB,
                   "checkpointing_GiB": (weights + inputs_all + max(per_block.values())) / GB}
            est["fits_24GB"] = {k: v < 22 for k, v in est.items() if k != "weights_GiB"}
            est["fits_80GB"] = {k: v < 78 for k, v in est.items() if k.endswith("GiB") and k != "weights_GiB"}
            out["estimates"][f"{name}, {wname} weights"] = est
            print(f"{name + ', ' + wname + ' weights':<34}{est['weights_GiB']:>9.1f}"
                  f"{est['no_checkpointing_GiB']:>9.1f}{est['checkpointing_GiB']:>9.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
