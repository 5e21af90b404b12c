#!/usr/bin/env python3
"""How close a restore with a released prompt is to the official code, and what the two old gaps cost.

    $(bash tests/run.sh --print-python) benchmarks/fidelity.py [--comfyui PATH] [--threads 2]
                                                                [--out benchmarks/results/fidelity.json]

Needs the test environment (diffusers 0.33.1, the official code's version, for its scheduler grids). All on CPU,
fp32, random weights (seeded), ComfyUI's own classes in-process:

1. Time index. The pack's 20-step bridge restore (Apply Restoration Prompt + Bridge Sampler + Bridge Schedule in
   SamplerCustomAdvanced, t0 0.4) against the official loop written independently in tests/harness/official_loop.py
   (continuous t in the algebra, diffusers' timestep into the network), at full block width (FLUX.1-dev 3072,
   2 double + 2 single blocks; Wan 2.1 1.3B 1536, 2 blocks; 16 prompt tokens): relative difference of the final
   latents, official index (now) and continuous t (before 0.2). Random weights exaggerate what a one-step time
   shift does to a trained model; the released prompts were trained under the official index.
2. FLUX null context, on the tiny T5-XXL stand-in (1 layer, random weights, the real tokenizer): the CLIP input's
   encoding against T5TokenizerOptions(min_length=512) + CLIP Text Encode(""), and ComfyUI's default 256-token
   encoding padded to 512 by repeating its last row (what a CONDITIONING input gives) against the official one.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "small_model"))
sys.path.insert(0, str(REPO / "tests"))

FAMILIES = {  # arch -> small-model constructor arguments at the real block width
    "flux": dict(hidden=3072, heads=24, depth=2, single=2),
    "wan21": dict(dim=1536, heads=12, layers=2, ffn=8960),
}
K = 16


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def time_index(host) -> dict:
    import torch

    import comfy.model_management
    from harness.official_loop import STEPS, T0, T_MIN, host_network, official_loop
    from harness.reference import make_latent
    from harness.small_models import small_flux, small_wan
    from unlock_restore.prompt_embeds import RestorationPrompt

    out = {}
    for arch, size in FAMILIES.items():
        started = time.perf_counter()
        model = small_flux(**size) if arch == "flux" else small_wan(**size)
        width = size.get("hidden") or size["dim"]
        blocks = {"double": 2, "single": 2} if arch == "flux" else {"blocks": 2}
        finals = {}
        for convention in ("official", "continuous"):
            prompt = RestorationPrompt(
                prompt=0.02 * torch.randn(K, width, generator=torch.Generator().manual_seed(1)),
                gates=0.1 * torch.randn(sum(blocks.values()), generator=torch.Generator().manual_seed(2)),
                mode="gated", arch=arch, blocks=blocks, time_index=convention,
                null_context=0.1 * torch.randn(K, 4096, generator=torch.Generator().manual_seed(3)),
                pooled=0.1 * torch.randn(768, generator=torch.Generator().manual_seed(4)) if arch == "flux" else None)
            patched, cond = host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                   strength=1.0).result
            y_raw = make_latent(arch, seed=3)
            noise_node = host.node("RandomNoise")().get_noise(7)[0]
            guider = host.node("BasicGuider")().get_guider(patched, cond)[0]
            sampler = host.node("UnlockBridgeSampler").execute().result[0]
            sigmas = host.node("UnlockBridgeSigmas").execute(model=patched, t0=T0, steps=STEPS,
                                                              t_min=T_MIN).result[0]
            finals[convention] = host.node("SamplerCustomAdvanced")().sample(
                noise_node, guider, sampler, sigmas, {"samples": y_raw})[0]["samples"]
            if convention == "official":
                comfy.model_management.load_models_gpu([patched])
                base = patched.model
                y = base.process_latent_in(y_raw)
                ref, _ = official_loop(host_network(base, cond, y), y, noise_node.generate_noise({"samples": y_raw}),
                                       arch)
                reference = base.process_latent_out(ref)
        out[arch] = {"width": width, "blocks": blocks, "tokens": K, "steps": STEPS, "t0": T0,
                     "official_vs_reference": rel(finals["official"], reference),
                     "continuous_vs_reference": rel(finals["continuous"], reference),
                     "seconds": round(time.perf_counter() - started, 1)}
        r = out[arch]
        print(f"{arch}: final latent vs the official loop, relative: official index {r['official_vs_reference']:.2e}"
              f", continuous t (before 0.2) {r['continuous_vs_reference']:.2e} ({r['seconds']} s)", flush=True)
    return out


def null_context(host, comfyui) -> dict:
    from harness.host import load_tool
    from unlock_restore.nodes.conditioning import clip_null_context, fit_tokens

    tiny = load_tool("tiny_models")
    files = tiny.ensure_built(comfyui, only=["clip_l_tiny", "t5xxl_tiny"], quiet=True)
    clip = tiny.standin_clip([files["clip_l_tiny"], files["t5xxl_tiny"]])
    exact, pooled = clip_null_context("benchmark", clip, 512, "flux")
    clip512 = host.node("T5TokenizerOptions").execute(clip, min_padding=0, min_length=512).result[0]
    official = host.node("CLIPTextEncode")().encode(clip512, "")[0][0][0][0].float()
    default = host.node("CLIPTextEncode")().encode(clip, "")[0][0][0].float()
    padded = fit_tokens(default, 512, "flux")[0]
    r = {"clip_input_vs_t5_options_max_abs": float((exact - official).abs().max()),
         "clip_input_rows": int(exact.shape[0]), "default_rows": int(default.shape[1]),
         "default_padded_vs_official": rel(padded, official),
         "default_kept_rows_vs_official": rel(padded[:256], official[:256]),
         "encoder": "tiny T5-XXL stand-in (1 layer, random weights, real tokenizer)"}
    print(f"FLUX null context: CLIP input vs T5TokenizerOptions(512) + CLIP Text Encode: max |diff| "
          f"{r['clip_input_vs_t5_options_max_abs']:.1e} ({r['clip_input_rows']} rows); ComfyUI's default "
          f"{r['default_rows']} tokens padded to 512 vs official: {r['default_padded_vs_official']:.2e} relative "
          f"({r['default_kept_rows_vs_official']:.2e} on the 256 rows it has)", flush=True)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", help="ComfyUI checkout (default: $COMFYUI_PATH, else ~/ComfyUI)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "fidelity.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from smallflux import find_comfyui, host_version, start_host, write_result

    comfyui = find_comfyui(args.comfyui)
    host = start_host(comfyui)
    with torch.inference_mode():  # as the host runs nodes
        times = time_index(host)
    nulls = null_context(host, comfyui)
    write_result(args.out, {"benchmark": "fidelity", "command": "benchmarks/fidelity.py", "device": "cpu",
                            "comfyui": host_version(comfyui), "dtype": "float32", "time_index": times,
                            "null_context": nulls})
    return 0


if __name__ == "__main__":
    sys.exit(main())
