#!/usr/bin/env python3
"""What recomputing the FLUX single-block prompt delta on every forward costs, measured side by side in one run.

    python benchmarks/single_block_delta.py [--comfyui PATH] [--sizes 256,512] [--repeats 5] [--threads 2]
                                            [--out benchmarks/results/single_block_delta.json]

The gated injection adds W_qkv (s a P) to the text tokens of every single block. It used to be cached, keyed on
the weight tensor, which went stale under GGUF LoRA patches (tests/test_gguf_lora.py); it is now computed through
linear1 on every forward, from K + 1 extra rows. This measures one model.apply_model of a FLUX single block at
FLUX.1-dev width (3072, 24 heads, ComfyUI's own classes in-process, fp32 on CPU) with K = 512 text tokens, bare
vs with a prompt installed by Apply Restoration Prompt's own code, at each image size: A, B, A, B, ... after one
warm-up of each; ratio = median(B) / median(A), spread = min-max of the per-repetition ratios. Also printed: the
extra rows as a share of linear1's rows, (K + 1) / (K + image tokens), which is what the cost scales with.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "small_model"))
sys.path.insert(0, str(REPO / "tests"))

K = 512


def measure(sizes: list[int], repeats: int) -> list[dict]:
    import torch

    from harness.small_models import small_flux
    from unlock_restore.prompt_embeds import RestorationPrompt
    from unlock_restore.nodes.prompting import prepare

    model = small_flux(hidden=3072, heads=24, depth=0, single=1)
    g = torch.Generator().manual_seed(0)
    prompt = RestorationPrompt(prompt=0.02 * torch.randn(K, 3072, generator=g), gates=torch.tensor([0.5]),
                               mode="gated", arch="flux", blocks={"double": 0, "single": 1},
                               null_context=0.1 * torch.randn(K, 4096, generator=g), pooled=torch.zeros(768))
    patched, cond = prepare(model, prompt, 1.0, node="benchmark")
    rows = []
    for size in sizes:
        x = torch.randn(1, 16, size // 8, size // 8, generator=g)
        arms = {"bare": model, "prompt": patched}
        times = {name: [] for name in arms}
        for rep in range(repeats + 1):  # rep 0: warm-up of each arm, not kept
            for name, m in arms.items():
                t = _forward_seconds(m, cond, x)
                if rep:
                    times[name].append(t)
        ratios = [b / a for a, b in zip(times["bare"], times["prompt"])]
        image_tokens = (size // 16) ** 2
        rows.append({"size": size, "image_tokens": image_tokens, "text_tokens": K,
                     "bare_s": statistics.median(times["bare"]), "prompt_s": statistics.median(times["prompt"]),
                     "ratio": statistics.median(times["prompt"]) / statistics.median(times["bare"]),
                     "ratio_spread": [min(ratios), max(ratios)],
                     "extra_linear1_rows": (K + 1) / (K + image_tokens)})
        r = rows[-1]
        print(f"{size}x{size} px ({image_tokens} image + {K} text tokens): bare {r['bare_s']:.3f} s, with prompt "
              f"{r['prompt_s']:.3f} s, ratio {r['ratio']:.3f} ({r['ratio_spread'][0]:.3f}-{r['ratio_spread'][1]:.3f})"
              f"; extra linear1 rows {100 * r['extra_linear1_rows']:.0f}%", flush=True)
    return rows


def _forward_seconds(patcher, cond, x) -> float:
    from harness.reference import run_model

    start = time.perf_counter()
    run_model(patcher, cond, x)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", help="ComfyUI checkout (default: $COMFYUI_PATH, else ~/ComfyUI)")
    ap.add_argument("--sizes", default="256,512", help="image sizes in pixels, comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "single_block_delta.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from smallflux import find_comfyui, host_version, start_host, write_result

    comfyui = find_comfyui(args.comfyui)
    start_host(comfyui)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = measure(sizes, args.repeats)
    result = {"benchmark": "single_block_delta", "command": "python benchmarks/single_block_delta.py "
              f"--sizes {args.sizes} --repeats {args.repeats} --threads {args.threads}",
              "comfyui": host_version(comfyui), "device": "cpu", "threads": args.threads, "dtype": "float32",
              "width": 3072, "rows": rows}
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
