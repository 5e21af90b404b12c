#!/usr/bin/env python3
"""Prompt training vs the host's TrainLoraNode (rank 16), side by side on the same model and batch.

    python benchmarks/train_vs_lora.py [--comfyui PATH] [--steps 4] [--size 256] [--out results.json]
                                       [--model flux|wan21] [--unet FILE --vae FILE] [--dtype fp32|bf16]

Each arm runs in its own process (fresh memory accounting; `run_arms` can also run groups of arms in one
process, quicker, but then the CPU memory of all but a group's first arm is only indicative): prompt training and
LoRA training, each with and without gradient checkpointing, batch 1, on a tiny checkpoint from
tools/tiny_models.py (`--model`: the FLUX-dev layout, default, or Wan 2.1), or on the given `--unet`/`--vae`
files. `--size` is pixels: square (256) or HxW (480x832). On a CUDA machine the arms run on the GPU.
Reported: seconds per step (the median interval between consecutive optimizer steps of an N+1-step run, so
set-up, data encoding and held-out evaluation are excluded) and peak memory above the loaded model (CUDA: max
allocated; CPU: sampled RSS). Printed as ratios to the prompt-training arm, since absolute numbers on shared
machines mean little.
`run_arms` is what benchmarks/speed_table.py builds on.
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
# --model -> (tiny diffusion model, its VAE, description)
MODELS = {
    "flux": ("flux_dev", "taesd_flux", "tiny FLUX-dev (1 double block, 404M params)"),
    "wan21": ("wan21_t2v", "wan21_vae", "tiny Wan 2.1 T2V (dim 128, 2 blocks, 1.1M params)"),
}


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


class StepClock:
    """Timestamps of every optimizer step in this process (torch's global post-step hook): an interval between
    two consecutive steps is one whole training step (batch, forward, backward, update) of either trainer."""

    def __enter__(self):
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.cuda = torch.cuda.is_available()
        self.stamps: list[float] = []
        self.handle = register_optimizer_step_post_hook(self._stamp)
        return self

    def _stamp(self, *_):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())

    def __exit__(self, *exc):
        self.handle.remove()

    def step_s(self) -> float:
        if len(self.stamps) < 2:
            raise RuntimeError(f"train_vs_lora: saw {len(self.stamps)} optimizer steps; need 2 or more")
        return statistics.median(b - a for a, b in zip(self.stamps, self.stamps[1:]))


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '480x832' -> (480, 832): image height and width in pixels."""
    h, _, w = str(text).partition("x")
    return int(h), int(w or h)


def _model_files(comfyui: Path, model: str, unet: str | None, vae: str | None) -> tuple[Path, Path]:
    """(diffusion model file, VAE file): the given ones, else the tiny checkpoints (built when not cached)."""
    if unet and vae:
        return Path(unet), Path(vae)
    sys.path.insert(0, str(REPO / "tools"))
    import tiny_models

    names = MODELS[model][:2]
    files = tiny_models.ensure_built(comfyui, only=names, quiet=True)
    return files[names[0]], files[names[1]]


def _host(comfyui: Path, base: Path):
    """The in-process host, on the GPU when there is one. InProcessHost passes `--cpu`, but ComfyUI parses its
    arguments once, on the first import of comfy.cli_args: importing that first without `--cpu` keeps CUDA."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import InProcessHost

    if torch.cuda.is_available():
        sys.path.insert(0, str(comfyui))
        import comfy.options

        comfy.options.enable_args_parsing()
        argv, sys.argv = sys.argv, [str(comfyui / "main.py"), "--base-directory", str(base),
                                    "--database-url", "sqlite:///:memory:", "--disable-api-nodes"]
        try:
            import comfy.cli_args  # noqa: F401
        finally:
            sys.argv = argv
    return InProcessHost(comfyui, base)


def child(arms: list[str], comfyui: Path, steps: int, size: str, model: str = "flux", unet: str | None = None,
            vae_file: str | None = None, dtype: str = "fp32") -> list[dict]:
    """Run the arms one after the other in this process, on one loaded model."""
    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import make_base_dir, pack_on_path

    unet_file, vae_path = _model_files(comfyui, model, unet, vae_file)
    base = make_base_dir(Path(tempfile.mkdtemp()), models={"diffusion_models": [unet_file], "vae": [vae_path]})
    pack_on_path()
    host = _host(comfyui, base)

    import torch
    from unlock_restore.nodes.training import exact_inplace_autograd

    diffusion = host.node("UNETLoader")().load_unet(unet_file.name, "default")[0]
    vae = host.node("VAELoader")().load_vae(vae_path.name)[0]
    height, width = parse_size(size)
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, height, width, 3, generator=g)
    degraded = (0.6 * clean + 0.3).clamp(0, 1)
    k = 64
    extras = {"pooled_output": torch.zeros(1, 768), "guidance": 1.0} if model == "flux" else {}
    cond = [[torch.zeros(1, k, 4096), extras]]

    def run(arm: str, n: int) -> tuple[float, int]:
        with torch.inference_mode(), PeakMemory() as mem, StepClock() as clock:
            if arm.startswith("prompt"):
                host.node("UnlockPromptTrain").execute(
                    model=diffusion, vae=vae, clean_images=clean, degraded_images=degraded, steps=n,
                    learning_rate=1e-3, batch_size=1, resolution=0, t0=0.4, seed=0, mode="gated", objective="bridge",
                    save_name="", checkpoint_every=0, gradient_checkpointing=arm.endswith("ckpt"), tokens=k)
            else:
                latent = {"samples": vae.encode(clean)}
                # Without checkpointing the host's own node cannot backpropagate through FLUX's in-place block
                # updates ("modified by an inplace operation"); it runs here under the same saved-tensor hook
                # our trainer uses, so the arm measures a working LoRA step. With checkpointing it runs as shipped.
                hook = contextlib.nullcontext() if arm.endswith("ckpt") else exact_inplace_autograd()
                with hook:
                    train_lora(host.node("TrainLoraNode"), diffusion, latent, cond, n, dtype, arm.endswith("ckpt"))
        return clock.step_s(), mem.used

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    results = []
    for arm in arms:
        # The clock starts at the end of step 1, so its first-call costs (kernels, allocator) are in no interval.
        step_s, peak = run(arm, steps + 1)
        results.append({"arm": arm, "step_s": step_s, "peak_bytes": peak, "device": device})
    return results


def train_lora(node, model, latent, cond, steps: int, dtype: str, checkpointing: bool) -> None:
    """The host's TrainLoraNode, rank 16, lr 1e-4, AdamW, MSE, batch 1, with or without its checkpointing: the V1
    node of v0.3.64 (positional `train`), or the V3 node of v0.20.1 (`execute`, every input a one-item list since
    it takes input lists; its extra inputs at their defaults, full-depth checkpointing, no offloading)."""
    if hasattr(node, "train"):
        node().train(model, latent, cond, 1, steps, 1, 1e-4, 16, "AdamW", "MSE", 0, dtype, dtype, "LoRA",
                     checkpointing, "[None]")
        return
    inputs = dict(model=model, latents=latent, positive=cond, batch_size=1, steps=steps, grad_accumulation_steps=1,
                  learning_rate=1e-4, rank=16, optimizer="AdamW", loss_function="MSE", seed=0, training_dtype=dtype,
                  lora_dtype=dtype, quantized_backward=False, algorithm="LoRA", gradient_checkpointing=checkpointing,
                  checkpoint_depth=1, offloading=False, existing_lora="[None]", bucket_mode=False, bypass_mode=False)
    node.execute(**{k: [v] for k, v in inputs.items()})


def run_arms(comfyui: Path, groups: list[list[str]], repeats: int, child_args: list[str]) -> dict[str, list[dict]]:
    """Every arm `repeats` times, interleaved (arm 1, arm 2, ..., arm 1, ...) so drift on a shared machine hits
    every arm alike. Each group of arms runs in one fresh process (one arm per group: exact memory accounting).
    `child_args`: the CLI options of the arms (--steps, --size, ...). Raises RuntimeError with the failing output."""
    results: dict[str, list[dict]] = {arm: [] for group in groups for arm in group}
    for _ in range(repeats):
        for group in groups:
            out = subprocess.run([sys.executable, __file__, "--child", ",".join(group), "--comfyui", str(comfyui),
                                  *child_args], capture_output=True, text=True)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if out.returncode or not lines:
                raise RuntimeError(f"train_vs_lora arms {group} failed (exit {out.returncode}):\n"
                                   f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            for r in json.loads(lines[-1][len("RESULT "):]):
                results[r["arm"]].append(r)
    return results


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per arm: median and spread of seconds per step, median peak bytes, both as ratios to the prompt arm."""
    summary = {}
    for arm, runs in results.items():
        step = [r["step_s"] for r in runs]
        peak = [r["peak_bytes"] for r in runs]
        summary[arm] = {"step_s_median": statistics.median(step), "step_s_spread": max(step) - min(step),
                        "peak_bytes_median": statistics.median(peak)}
    ref = summary["prompt"]
    for s in summary.values():
        s["time_ratio"] = s["step_s_median"] / ref["step_s_median"]
        s["memory_ratio"] = s["peak_bytes_median"] / max(ref["peak_bytes_median"], 1)
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH", str(Path.home() / "ComfyUI")))
    ap.add_argument("--steps", type=int, default=4, help="timed training steps per run (after an untimed first one)")
    ap.add_argument("--size", default="256", help="training image size in pixels: 256 or HxW")
    ap.add_argument("--repeats", type=int, default=1, help="runs per arm (medians reported)")
    ap.add_argument("--model", choices=sorted(MODELS), default="flux", help="which tiny checkpoint to train on")
    ap.add_argument("--unet", help="a diffusion model file to use instead of the tiny one (needs --vae)")
    ap.add_argument("--vae", help="the VAE file that goes with --unet")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="TrainLoraNode training/LoRA dtype")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_vs_lora.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)  # comma-separated arms to run in this process
    args = ap.parse_args()
    comfyui = Path(args.comfyui)
    if bool(args.unet) != bool(args.vae):
        ap.error("--unet and --vae go together")
    if args.child:
        if not set(args.child.split(",")) <= set(ARMS):
            ap.error(f"--child takes arms from {ARMS}")
        arms = args.child.split(",")
        print("RESULT " + json.dumps(child(arms, comfyui, args.steps, args.size, args.model, args.unet, args.vae,
                                           args.dtype)), flush=True)
        return 0
    if not (comfyui / "main.py").is_file():
        print(f"no ComfyUI checkout at {comfyui}: pass --comfyui or set COMFYUI_PATH", file=sys.stderr)
        return 2
    child_args = ["--steps", str(args.steps), "--size", args.size, "--model", args.model, "--dtype", args.dtype]
    child_args += ["--unet", args.unet, "--vae", args.vae] if args.unet else []
    try:
        results = run_arms(comfyui, [[arm] for arm in ARMS], args.repeats, child_args)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    summary = summarise(results)
    print(f"{'arm':<14}{'time/step vs prompt':>22}{'peak memory vs prompt':>24}")
    for arm, s in summary.items():
        print(f"{arm:<14}{s['time_ratio']:>21.2f}x{s['memory_ratio']:>23.2f}x")
    model = args.unet or MODELS[args.model][2]
    record = {"benchmark": "train_vs_lora", "model": f"{model}, {args.dtype}", "image_size": args.size,
              "steps": args.steps, "repeats": args.repeats, "device": results["prompt"][0]["device"],
              "arms": summary, "raw": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
