#!/usr/bin/env python3
"""The speed table: every pair below measured side by side in one run, on a ComfyUI host, with ratios.

    python benchmarks/speed_table.py [--comfyui PATH] [--repeats N] [--out benchmarks/results/speed_table.json]
                                     [--docs docs/speed.md] [--quick | --full-size]

Pairs, A vs B (ratio = median of B / median of A), on FLUX (FLUX-dev layout) and Wan 2.1:
  bridge_vs_euler   SamplerCustomAdvanced with stock euler (KSamplerSelect) vs the Bridge Sampler: the same
                    patched model, CONDITIONING, Bridge Schedule sigmas, noise seed and latent. Seconds per restore
                    (sampling only, no VAE).
  patched_forward   one model.apply_model of the bare model vs the model with a restoration prompt installed by
                    Apply Restoration Prompt's own code (nodes/prompt_apply.prepare), same inputs.
  average_vs_blend  two prompts mixed by Mix Restoration Prompts, 'blend' vs 'average', each applied and sampled
                    with the Bridge Sampler: seconds per sampler step.
  prompt_vs_lora    prompt training vs the host's TrainLoraNode (rank 16), without and with gradient
                    checkpointing: seconds per step and peak memory above the loaded model, by
                    benchmarks/train_vs_lora.py in fresh processes (see PAIR_SHARED for CPU).
In-process pairs run one warm-up of each arm, then A, B, A, B, ... (--repeats each), so drift on a shared
machine hits both arms; the training arms interleave the same way (--train-repeats each; timed between optimizer
steps, so set-up is excluded).
Spread: min-max of each arm and of the per-repetition ratio B_i / A_i.

Profiles: the default runs the tiny stock-loader checkpoints of tools/tiny_models.py (FLUX-dev layout with one
double block at width 3072; Wan 2.1 dim 128) in fp32 on the CPU. --quick is a smoke run at the smallest shapes
(tests/test_speed_table.py; the four training arms share one process, so its memory numbers mean little).
--full-size needs CUDA: FLUX.1-dev layout (19 double + 38 single blocks) at 1024x1024 and Wan2.1-T2V-1.3B at
480x832 with 33 frames, random weights (shapes from ComfyUI's classes on the meta device, values from
tools/tiny_models.py's seeded recipe, written once to the cache) loaded by the stock loader onto the GPU in bf16;
20 steps per restore; training at 1024x1024 (FLUX) and on 480x832 frames (Wan).
Writes the JSON (--out) and docs/speed.md (--docs), a table generated from that JSON by `render_markdown`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND = "python benchmarks/speed_table.py"
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
import tiny_models  # noqa: E402  (no torch or ComfyUI at its top level)
import train_vs_lora  # noqa: E402
from harness.host import pack_on_path  # noqa: E402  (stdlib only at its top level)

T0 = 0.4  # the paper's bridge start, the Bridge Schedule default
SIGMA = 0.4  # the noise level of the single forward in patched_forward
TINY = {"flux": "flux_dev", "wan21": "wan21_t2v"}  # model -> tools/tiny_models.py name
VAES = {"flux": "taesd_flux", "wan21": "wan21_vae"}  # the VAE train_vs_lora encodes the training images with
LABELS = {"flux": "FLUX", "wan21": "Wan 2.1"}


@dataclass(frozen=True)
class Shape:
    """What one model is measured at: restore size in pixels and frames, prompt tokens K, training size."""
    model: str           # "flux" | "wan21"
    height: int
    width: int
    frames: int          # 1: an image
    tokens: int
    train_size: str | None = None  # train_vs_lora --size; None: no training pair on this model


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    shapes: tuple[Shape, ...]
    steps: int           # sampler steps per restore
    train_steps: int
    train_dtype: str
    train_processes: tuple[tuple[str, ...], ...]  # train_vs_lora arms that share one process


ONE_ARM_EACH = tuple((arm,) for arm in train_vs_lora.ARMS)  # fresh memory accounting for every arm
# On CPU a pair's two arms share one process, prompt training first (exact), then LoRA, whose RSS growth can be
# low by what the prompt arm left allocated (tens of MB against GBs): half the process start-ups (~30 s each).
PAIR_SHARED = (("prompt", "lora"), ("prompt_ckpt", "lora_ckpt"))
PROFILES = {
    "cpu": Profile("cpu", "tiny stock-loader checkpoints (tools/tiny_models.py), fp32",
                   (Shape("flux", 256, 256, 1, 64, "64"), Shape("wan21", 384, 384, 17, 64)), steps=4,
                   train_steps=2, train_dtype="fp32", train_processes=PAIR_SHARED),
    "quick": Profile("quick", "smoke run at the smallest shapes (tiny checkpoints, fp32); not a measurement",
                     (Shape("flux", 64, 64, 1, 16), Shape("wan21", 64, 64, 5, 16, "64")), steps=2,
                     train_steps=3, train_dtype="fp32", train_processes=(tuple(train_vs_lora.ARMS),)),
    "full": Profile("full", "full-size architectures, random weights, bf16 on CUDA",
                    (Shape("flux", 1024, 1024, 1, 512, "1024"), Shape("wan21", 480, 832, 33, 226, "480x832")),
                    steps=20, train_steps=4, train_dtype="bf16", train_processes=ONE_ARM_EACH),
}
# Full-size models: model -> (cache file, tools/tiny_models.py recipe whose seeded init is used, config changes)
FULL_SIZE = {
    "flux": ("flux1_dev_layout_random.safetensors", "flux_dev", dict(depth=19, depth_single_blocks=38)),
    "wan21": ("wan21_t2v_1.3b_random.safetensors", "wan21_t2v",
              dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)),
}
NO_FULL_SIZE = ("The full-size run (--full-size: FLUX.1-dev layout at 1024x1024, Wan2.1-1.3B at 480x832x33, bf16 "
                "on CUDA) is not in this table: it was measured without a CUDA device.")


# ---------------------------------------------------------------------------------------------------------------
# Host set-up

def find_comfyui(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("COMFYUI_PATH") or Path.home() / "ComfyUI").expanduser().resolve()
    if not ((path / "main.py").is_file() and (path / "comfy").is_dir()):
        raise SystemExit(f"speed_table: no ComfyUI checkout at {path}. Pass --comfyui PATH or set COMFYUI_PATH.")
    return path


def import_host(comfyui: Path, cuda: bool) -> None:
    """ComfyUI's `comfy` modules in this process (arguments parsed before comfy.model_management is imported,
    `--cpu` unless on CUDA), and this pack as the package `unlock_restore` from a temporary folder: the repo root
    itself must not go on sys.path, its nodes/ would shadow ComfyUI's top-level `nodes` module."""
    sys.path.insert(0, str(comfyui))
    import comfy.options

    comfy.options.enable_args_parsing()
    argv, sys.argv = sys.argv, [str(comfyui / "main.py"), *([] if cuda else ["--cpu"])]
    try:
        import comfy.cli_args  # noqa: F401
        import utils.extra_config  # noqa: F401  (first, as main.py does: comfy/utils.py would take the name)
        import comfy.model_management  # noqa: F401
    finally:
        sys.argv = argv
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False  # no tqdm lines for every timed sample
    pack_on_path()


def tiny_files(comfyui: Path) -> dict[str, Path]:
    """Every tiny checkpoint (built from its seed when not cached): tools/tiny_models.py name -> file."""
    return tiny_models.ensure_built(comfyui, only=[*TINY.values(), *VAES.values()], quiet=True)


def full_size_file(model: str) -> Path:
    """A full-size checkpoint with random weights, written to the cache the first time. Key names and shapes
    come from ComfyUI's module built on the meta device (no memory); every tensor from tiny_models' seeded
    recipe (the result depends only on the seed), stored in bf16 like the released files."""
    import comfy
    import comfy.ops
    import torch

    name, recipe, changes = FULL_SIZE[model]
    host = tiny_models.host_key(Path(comfy.__file__).resolve().parents[1])  # key names follow the host's classes
    path = tiny_models.cache_root() / f"full-size-v{tiny_models.VERSION}-{host}" / name
    if path.is_file():
        return path

    ops = comfy.ops.disable_weight_init
    with torch.device("meta"):
        if model == "flux":
            import comfy.ldm.flux.model

            module = comfy.ldm.flux.model.Flux(image_model="flux", operations=ops,
                                               **tiny_models.flux_host_config({**tiny_models.FLUX_DEV_CONFIG, **changes}))
        else:
            import comfy.ldm.wan.model

            module = comfy.ldm.wan.model.WanModel(operations=ops, **{**tiny_models.WAN21_T2V_CONFIG, **changes})
    template = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"speed_table: writing {path} (random weights, once)", flush=True)
    sd = tiny_models.build_state_dict(recipe, tiny_models.DEFAULT_SEED, template, fp8=False)
    tiny_models._write_atomic_safetensors(sd, path, {tiny_models.METADATA_KEY: f"speed_table full-size {model}"})
    return path


def comfyui_commit(comfyui: Path) -> str:
    """The checkout's commit; its own .git only (a repository around the folder would answer for itself)."""
    if (comfyui / ".git").exists():
        out = subprocess.run(["git", "-C", str(comfyui), "rev-parse", "HEAD"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.strip()
    version_file = comfyui / "comfyui_version.py"
    version = version_file.read_text().split('"')[1] if version_file.is_file() else "unknown"
    return f"unknown (checkout without git metadata; comfyui_version.py says {version})"


# ---------------------------------------------------------------------------------------------------------------
# Timing and statistics

def synchronize(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleave(arm_a, arm_b, repeats: int) -> tuple[list[float], list[float]]:
    """One warm-up call of each arm (first-call costs belong to neither), then A, B, A, B, ...: each arm is a
    callable returning its measured value."""
    arm_a(), arm_b()
    a, b = [], []
    for _ in range(repeats):
        a.append(arm_a())
        b.append(arm_b())
    return a, b


def arm_stats(label: str, values: list[float]) -> dict:
    return {"label": label, "median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def ratio(a: float, b: float) -> float | None:
    """B/A; None when A is not positive (a CPU memory growth of 0 bytes: RSS that a freed tensor left behind)."""
    return b / a if a > 0 else None


def compare(unit: str, a_label: str, a: list[float], b_label: str, b: list[float]) -> dict:
    """A metric of a pair: both arms' medians and spread, the ratio of medians (B/A) and the spread of the
    ratios of the interleaved repetitions."""
    sa, sb = arm_stats(a_label, a), arm_stats(b_label, b)
    ratios = [r for r in map(ratio, a, b) if r is not None]
    return {"unit": unit, "a": sa, "b": sb, "ratio": ratio(sa["median"], sb["median"]),
            "ratio_min": min(ratios, default=None), "ratio_max": max(ratios, default=None), "ratios": ratios}


# ---------------------------------------------------------------------------------------------------------------
# The host paths the pairs run

def random_prompt(patcher, tokens: int, seed: int):
    """A gated restoration prompt that fits the loaded model (random, like an untrained one: speed only)."""
    import torch
    from unlock_restore.nodes.model_info import model_info
    from unlock_restore.prompt_embeds import RestorationPrompt

    info = model_info(patcher)
    g = torch.Generator().manual_seed(seed)
    # Null context and pooled vector are the same for every seed: prompts blend only when they share them.
    return RestorationPrompt(prompt=0.02 * torch.randn(tokens, info.width, generator=g),
                             gates=0.1 * torch.randn(sum(info.blocks.values()), generator=g), mode="gated",
                             arch=info.arch, blocks=dict(info.blocks),
                             null_context=0.1 * torch.randn(tokens, 4096, generator=torch.Generator().manual_seed(0)),
                             pooled=0.1 * torch.ones(768) if info.arch == "flux" else None,
                             provenance={"degradations": ["speed_table"]})


def latent_for(shape: Shape):
    import torch

    g = torch.Generator().manual_seed(1)
    size = (shape.height // 8, shape.width // 8)
    dims = (1, 16, *size) if shape.model == "flux" else (1, 16, (shape.frames - 1) // 4 + 1, *size)
    return torch.randn(dims, generator=g)


def sample(model, cond, sampler, sigmas, latent) -> None:
    """SamplerCustomAdvanced(RandomNoise, BasicGuider, SAMPLER, SIGMAS, LATENT): what a restore graph runs."""
    from comfy_extras.nodes_custom_sampler import BasicGuider, RandomNoise, SamplerCustomAdvanced

    noise = RandomNoise().get_noise(0)[0]
    guider = BasicGuider().get_guider(model, cond)[0]
    SamplerCustomAdvanced().sample(noise, guider, sampler, sigmas, {"samples": latent})


def bridge_sigmas(model, steps: int):
    from unlock_restore.nodes.bridge_sampler import UnlockBridgeSigmas

    return UnlockBridgeSigmas.execute(model=model, t0=T0, steps=steps, t_min=1e-4).result[0]


def forward(patcher, cond, latent, count: int):
    """A callable timing `count` consecutive apply_model calls of `patcher` (seconds per call: several calls per
    sample average out a shared machine's jitter); loading it (which switches the object patches of the shared
    model between clones) happens before the clock starts."""
    import torch
    import comfy.model_management as mm

    device = patcher.load_device
    x = latent.to(device)
    sigma = torch.full((1,), SIGMA, device=device)

    def run() -> float:
        mm.load_models_gpu([patcher])
        base = patcher.model
        conds = base.extra_conds(noise=x, device=device, cross_attn=cond[0][0].to(device), **cond[0][1])
        kw = {k: v.cond.to(device) if torch.is_tensor(v.cond) else v.cond for k, v in conds.items()}
        return timed(lambda: [base.apply_model(x, sigma, **kw) for _ in range(count)], device) / count
    return run


# ---------------------------------------------------------------------------------------------------------------
# Pairs

def pair(name: str, title: str, shape: Shape, setting: str, **metrics) -> dict:
    return {"name": f"{name}_{shape.model}", "pair": title, "model": shape.model, "setting": setting,
            "metrics": metrics}


def restore_setting(shape: Shape, steps: int | None = None) -> str:
    frames = f"x{shape.frames} frames" if shape.frames > 1 else ""
    what = f"{steps} steps, t0={T0}" if steps else f"sigma={SIGMA}"
    return f"{shape.height}x{shape.width}{frames}, K={shape.tokens}, {what}"


def bridge_vs_euler(model, shape: Shape, steps: int, repeats: int) -> dict:
    from comfy_extras.nodes_custom_sampler import KSamplerSelect
    from unlock_restore.nodes.bridge_sampler import UnlockBridgeSampler
    from unlock_restore.nodes.prompting import prepare

    patched, cond = prepare(model, random_prompt(model, shape.tokens, seed=1))
    sigmas, latent, device = bridge_sigmas(patched, steps), latent_for(shape), model.load_device
    euler = KSamplerSelect().get_sampler("euler")[0]
    bridge = UnlockBridgeSampler.execute().result[0]
    a, b = interleave(lambda: timed(lambda: sample(patched, cond, euler, sigmas, latent), device),
                      lambda: timed(lambda: sample(patched, cond, bridge, sigmas, latent), device), repeats)
    return pair("bridge_vs_euler", "Bridge Sampler vs stock euler, equal steps", shape,
                restore_setting(shape, steps),
                seconds=compare(f"s per restore ({steps} steps)", "euler", a, "Bridge Sampler", b))


def patched_forward(model, shape: Shape, count: int, repeats: int) -> dict:
    from unlock_restore.nodes.prompting import prepare

    patched, cond = prepare(model, random_prompt(model, shape.tokens, seed=1))
    latent = latent_for(shape)
    a, b = interleave(forward(model, cond, latent, count), forward(patched, cond, latent, count), repeats)
    return pair("patched_forward", "Patched vs unpatched forward", shape,
                f"{restore_setting(shape)}, mean of {count} forwards",
                seconds=compare("s per forward", "unpatched", a, "prompt installed", b))


def average_vs_blend(model, shape: Shape, steps: int, repeats: int) -> dict:
    from unlock_restore.nodes.bridge_sampler import UnlockBridgeSampler
    from unlock_restore.nodes.prompting import prepare
    from unlock_restore.nodes.prompt_mix import UnlockPromptMix

    first, second = random_prompt(model, shape.tokens, seed=1), random_prompt(model, shape.tokens, seed=2)
    arms = {}
    for mode in ("blend", "average"):
        mixed = UnlockPromptMix.execute(prompt_1=first, weight_1=1.0, prompt_2=second, weight_2=1.0,
                                        mode=mode).result[0]
        arms[mode] = prepare(model, mixed)
    sigmas, latent, device = bridge_sigmas(model, steps), latent_for(shape), model.load_device
    bridge = UnlockBridgeSampler.execute().result[0]

    def per_step(mode: str):
        patched, cond = arms[mode]
        return lambda: timed(lambda: sample(patched, cond, bridge, sigmas, latent), device) / steps
    a, b = interleave(per_step("blend"), per_step("average"), repeats)
    return pair("average_vs_blend", "Mixing two prompts: average vs blend", shape, restore_setting(shape, steps),
                seconds=compare("s per sampler step", "blend", a, "average", b))


def training_pairs(comfyui: Path, shape: Shape, profile: Profile, repeats: int, unet: Path, vae: Path) -> list:
    """Prompt training vs TrainLoraNode rank 16, without and with checkpointing, by train_vs_lora's arms."""
    args = ["--steps", str(profile.train_steps), "--size", shape.train_size, "--model", shape.model,
            "--dtype", profile.train_dtype, "--unet", str(unet), "--vae", str(vae)]
    runs = train_vs_lora.run_arms(comfyui, [list(g) for g in profile.train_processes], repeats, args)
    setting = (f"{shape.train_size} px, batch 1, K=64, {profile.train_dtype}, {profile.train_steps} timed "
               f"step{'s' if profile.train_steps > 1 else ''} per run")
    pairs = []
    for suffix, what in (("", "no checkpointing"), ("_ckpt", "gradient checkpointing")):
        prompt, lora = runs["prompt" + suffix], runs["lora" + suffix]
        pairs.append(pair(f"prompt_vs_lora{suffix}", f"Prompt training vs TrainLoraNode rank 16, {what}", shape,
                          setting,
                          seconds=compare("s per training step", "prompt training", [r["step_s"] for r in prompt],
                                          "TrainLoraNode", [r["step_s"] for r in lora]),
                          peak_bytes=compare("peak memory above the loaded model", "prompt training",
                                             [r["peak_bytes"] for r in prompt], "TrainLoraNode",
                                             [r["peak_bytes"] for r in lora])))
    return pairs


def measure(comfyui: Path, profile: Profile, repeats: int, train_repeats: int, files: dict[str, Path],
            vaes: dict[str, Path]) -> list:
    """Every pair of the profile. Training runs first: its processes then have the device to themselves."""
    import torch
    import comfy.model_management
    import comfy.sd

    pairs = []
    for shape in profile.shapes:
        if shape.train_size:
            print(f"speed_table: training pairs on {LABELS[shape.model]}", flush=True)
            pairs += training_pairs(comfyui, shape, profile, train_repeats, files[shape.model], vaes[shape.model])
    for shape in profile.shapes:
        print(f"speed_table: sampling pairs on {LABELS[shape.model]}", flush=True)
        model = comfy.sd.load_diffusion_model(str(files[shape.model]))
        with torch.inference_mode():  # as every node runs in the host
            pairs.append(bridge_vs_euler(model, shape, profile.steps, repeats))
            pairs.append(patched_forward(model, shape, profile.steps, repeats))
            pairs.append(average_vs_blend(model, shape, profile.steps, repeats))
        del model
        comfy.model_management.unload_all_models()  # the next model gets the whole device
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Output

def fmt(value: float, unit: str) -> str:
    if unit.startswith("peak memory"):
        return f"{value / 2 ** 20:.1f} MiB"
    return f"{value:.3g} s" if value >= 1e-3 else f"{value * 1e3:.3g} ms"


def times(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def render_markdown(record: dict) -> str:
    """docs/speed.md from a speed-table JSON record (only from it: the page always matches the file)."""
    env = record["environment"]
    lines = [
        "# Speed table",
        "",
        f"Generated by `benchmarks/speed_table.py` from `{record['json_path']}`; do not edit by hand.",
        "Re-create both with:",
        "",
        "```",
        record["command"],
        "```",
        "",
        f"Profile `{record['profile']['name']}`: {record['profile']['description']}. Device: {env['device']}; "
        f"torch {env['torch']}; ComfyUI {env['comfyui_commit']}; {env['date']}; {record['repeats']} interleaved "
        f"repetitions per sampling pair after one warm-up of each arm, {record['train_repeats']} per training pair.",
        "",
        "Ratio = median of B / median of A; its spread is the min-max of the per-repetition ratios B_i / A_i. "
        "Arm columns: median (min-max).",
        "",
        "| pair | model | setting | metric | A | A median (min-max) | B | B median (min-max) | ratio B/A "
        "| ratio spread |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in record["pairs"]:
        for m in p["metrics"].values():
            a, b, unit = m["a"], m["b"], m["unit"]
            lines.append(
                f"| {p['pair']} | {LABELS[p['model']]} | {p['setting']} | {unit} | {a['label']} | "
                f"{fmt(a['median'], unit)} ({fmt(a['min'], unit)}-{fmt(a['max'], unit)}) | {b['label']} | "
                f"{fmt(b['median'], unit)} ({fmt(b['min'], unit)}-{fmt(b['max'], unit)}) | {times(m['ratio'])} | "
                f"{times(m['ratio_min'])}-{times(m['ratio_max'])} |")
    lines += ["", *record["notes"], ""]
    return "\n".join(lines)


def notes(profile: Profile) -> list[str]:
    out = ["Restore and step times are sampling only (no VAE encode/decode). Training peak memory: CUDA max "
           "allocated, else process RSS sampled every 5 ms, above the level with the model loaded."]
    if profile.name != "full":
        out.append(NO_FULL_SIZE)
    return out


def environment(comfyui: Path) -> dict:
    import torch

    cpu = f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu
    return {"device": device, "torch": torch.__version__, "python": platform.python_version(),
            "comfyui_commit": comfyui_commit(comfyui),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def display_path(path: Path) -> str:
    """The path as the docs show it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", help="ComfyUI checkout (default: $COMFYUI_PATH, else ~/ComfyUI)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repetitions per pair (default 5)")
    ap.add_argument("--train-repeats", type=int, help="repetitions of the training pairs, whose arms take "
                    "minutes on a CPU (default: --repeats, at most 3)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "speed_table.json"))
    ap.add_argument("--docs", default=str(REPO / "docs" / "speed.md"), help="the generated markdown table")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke run at the smallest shapes (for the test)")
    size.add_argument("--full-size", action="store_true", help="full-size architectures on CUDA (needs a GPU)")
    args = ap.parse_args(argv)
    train_repeats = min(args.repeats, 3) if args.train_repeats is None else args.train_repeats
    if min(args.repeats, train_repeats) < 1:
        ap.error("--repeats and --train-repeats must be at least 1")
    comfyui = find_comfyui(args.comfyui)
    profile = PROFILES["full" if args.full_size else "quick" if args.quick else "cpu"]

    import torch

    if args.full_size and not torch.cuda.is_available():
        print("speed_table: --full-size needs a CUDA device and torch with CUDA; none is available here "
              f"(torch {torch.__version__}). Run it on a GPU machine, or drop --full-size for the CPU table.",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    import_host(comfyui, cuda=args.full_size)
    tiny = tiny_files(comfyui)
    files = {m: full_size_file(m) if args.full_size else tiny[TINY[m]] for m in TINY}
    vaes = {m: tiny[VAES[m]] for m in VAES}
    try:
        pairs = measure(comfyui, profile, args.repeats, train_repeats, files, vaes)
    except RuntimeError as e:  # a training arm's process failed: its output says why
        print(f"speed_table: {e}", file=sys.stderr)
        return 1
    out, docs = Path(args.out), Path(args.docs)
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    record = {"benchmark": "speed_table", "command": command, "json_path": display_path(out),
              "profile": asdict(profile), "repeats": args.repeats, "train_repeats": train_repeats,
              "environment": environment(comfyui), "wall_s": time.perf_counter() - started,
              "full_size_run": args.full_size, "notes": notes(profile), "pairs": pairs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(render_markdown(record))
    print(render_markdown(record))
    print(f"written {out} and {docs} in {record['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
