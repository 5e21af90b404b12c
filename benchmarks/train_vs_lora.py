#!/usr/bin/env python3
"""Prompt training vs the host's TrainLoraNode (rank 16), side by side on the same tiny FLUX and batch.

    python benchmarks/train_vs_lora.py [--comfyui PATH] [--steps 4] [--size 256] [--out results.json]

Each arm runs in its own process (fresh memory accounting): prompt training and LoRA training, each with and
without gradient checkpointing, fp32, batch 1, on the tiny FLUX checkpoint from tools/tiny_models.py.
Reported: median seconds per step (the difference between an N-step and a 1-step run divided by N-1, so
set-up cancels) and peak memory above the loaded model (CUDA: max allocated; CPU: sampled RSS). Printed as
ratios to the prompt-training arm, since absolute numbers on shared machines mean little.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = ["prompt", "prompt_ckpt", "lora", "lora_ckpt"]


class PeakMemory:
    """Peak memory above the level at start: CUDA max_memory_allocated, else RSS sampled every 5 ms."""

    def __init__(self):
        import psutil
        import torch

        self.cuda = torch.cuda.is_available()
        self.proc = psutil.Process()
        self.torch = torch

    def __enter__(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.base = self.torch.cuda.memory_allocated()
            self.torch.cuda.reset_peak_memory_stats()
            return self
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = False

        def sample():
            while not self.stop:
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.005)
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.used = self.torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop = True
            self.thread.join()
            self.used = self.peak - self.base


def child(arm: str, comfyui: Path, steps: int, size: int) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import InProcessHost, make_base_dir

    sys.path.insert(0, str(REPO / "tools"))
    import tiny_models

    models = Path(os.environ.get("UNLOCK_CACHE", Path.home() / ".cache" / "unlock-restore")) / \
        f"tiny-models-v{tiny_models.VERSION}"
    subprocess.run([sys.executable, str(REPO / "tools" / "tiny_models.py"), "--comfyui", str(comfyui), "--out",
                    str(models), "--only", "flux_dev,taesd_flux"], check=True, stdout=subprocess.DEVNULL)
    files = tiny_models.model_files(models)
    base = make_base_dir(Path(tempfile.mkdtemp()), models={"diffusion_models": [files["flux_dev"]],
                                                             "vae": [files["taesd_flux"]]})
    pkg = Path(tempfile.mkdtemp())
    (pkg / "unlock_restore").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(pkg))
    host = InProcessHost(comfyui, base)

    import torch
    from unlock_restore.nodes.training import exact_inplace_autograd

    model = host.node("UNETLoader")().load_unet(files["flux_dev"].name, "default")[0]
    vae = host.node("VAELoader")().load_vae(files["taesd_flux"].name)[0]
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, size, size, 3, generator=g)
    degraded = (0.6 * clean + 0.3).clamp(0, 1)
    k = 64
    cond = [[torch.zeros(1, k, 4096), {"pooled_output": torch.zeros(1, 768), "guidance": 1.0}]]

    def run(n: int) -> tuple[float, int]:
        with torch.inference_mode(), PeakMemory() as mem:
            start = time.perf_counter()
            if arm.startswith("prompt"):
                host.node("UnlockPromptTrain").execute(
                    model=model, vae=vae, clean_images=clean, degraded_images=degraded, steps=n, learning_rate=1e-3,
                    batch_size=1, resolution=0, t0=0.4, seed=0, mode="gated", objective="bridge", save_name="",
                    checkpoint_every=0, gradient_checkpointing=arm.endswith("ckpt"), tokens=k)
            else:
                latent = {"samples": vae.encode(clean)}
                # Without checkpointing the host's own node cannot backpropagate through FLUX's in-place block
                # updates ("modified by an inplace operation"); it runs here under the same saved-tensor hook
                # our trainer uses, so the arm measures a working LoRA step. With checkpointing it runs as shipped.
                hook = contextlib.nullcontext() if arm.endswith("ckpt") else exact_inplace_autograd()
                with hook:
                    host.node("TrainLoraNode")().train(
                        model, latent, cond, 1, n, 1, 1e-4, 16, "AdamW", "MSE", 0, "fp32", "fp32",
                        "LoRA", arm.endswith("ckpt"), "[None]")
            elapsed = time.perf_counter() - start
        return elapsed, mem.used

    run(1)  # warm-up: first-call costs (kernels, allocator) belong to no arm
    one, _ = run(1)
    many, peak = run(steps)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"arm": arm, "step_s": (many - one) / (steps - 1), "peak_bytes": peak, "device": device}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH", str(Path.home() / "ComfyUI")))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--size", type=int, default=256, help="training image size in pixels")
    ap.add_argument("--repeats", type=int, default=1, help="runs per arm (medians reported)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_vs_lora.json"))
    ap.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    comfyui = Path(args.comfyui)
    if args.child:
        print("RESULT " + json.dumps(child(args.child, comfyui, args.steps, args.size)), flush=True)
        return 0
    if not (comfyui / "main.py").is_file():
        print(f"no ComfyUI checkout at {comfyui}: pass --comfyui or set COMFYUI_PATH", file=sys.stderr)
        return 2
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for rep in range(args.repeats):
        for arm in ARMS:  # interleaved, so drift on a shared machine hits every arm alike
            out = subprocess.run([sys.executable, __file__, "--child", arm, "--comfyui", str(comfyui), "--steps",
                                  str(args.steps), "--size", str(args.size)], capture_output=True, text=True)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if out.returncode or line is None:
                print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
                return 1
            results[arm].append(json.loads(line[len("RESULT "):]))
    summary = {}
    for arm in ARMS:
        step = [r["step_s"] for r in results[arm]]
        peak = [r["peak_bytes"] for r in results[arm]]
        summary[arm] = {"step_s_median": statistics.median(step), "step_s_spread": max(step) - min(step),
                        "peak_bytes_median": statistics.median(peak)}
    ref = summary["prompt"]
    print(f"{'arm':<14}{'time/step vs prompt':>22}{'peak memory vs prompt':>24}")
    for arm in ARMS:
        s = summary[arm]
        s["time_ratio"] = s["step_s_median"] / ref["step_s_median"]
        s["memory_ratio"] = s["peak_bytes_median"] / max(ref["peak_bytes_median"], 1)
        print(f"{arm:<14}{s['time_ratio']:>21.2f}x{s['memory_ratio']:>23.2f}x")
    device = results["prompt"][0]["device"]
    record = {"benchmark": "train_vs_lora", "model": "tiny FLUX-dev (1 double block, 404M params), fp32",
              "image_size": args.size, "steps": args.steps, "repeats": args.repeats, "device": device,
              "arms": summary, "raw": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
