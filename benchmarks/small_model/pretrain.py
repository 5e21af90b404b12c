#!/usr/bin/env python3
"""Pretrain the small FLUX-family model from scratch (rectified flow) on crops of the training photos.

    # version 1 (the committed flux_small.safetensors: 600 steps at 64 px, 3.3 s/step on one core, 33 min)
    python benchmarks/small_model/pretrain.py --comfyui PATH --steps 600 --batch 16 --threads 1
    # version 2 (issue 15): more photos, colour augmentation, mostly 32 px then 64 px, resumable
    python benchmarks/small_model/pretrain.py --comfyui PATH --recipe v2 --threads 2 \\
        --out benchmarks/small_model/flux_small_v2.safetensors
    python benchmarks/small_model/pretrain.py --comfyui PATH --quick --out FILE   # seconds: a smoke run

Writes fp16 weights with the config, seed, recipe, image list, stage plan and loss curve in the metadata.
Deterministic for a seed, recipe and thread count, and resumable: every --state-every steps the whole training
state (fp32 weights, AdamW moments, the data generator, the loss curve) goes atomically to --state (default: next
to --out, `<out>.state.safetensors`, never committed); rerunning the same command continues from it and ends with
the same weights as an uninterrupted run (tests/test_reproduction.py checks this). Delete the state file to start
over.

Objective: the standard flow-matching one the FLUX family uses: x_t = (1 - t) x0 + t e, velocity MSE (the host's
model wrapper returns x0_hat = x_t - t v, so v = (x_t - x0_hat) / t). The model is text-conditioned like FLUX:
each training photo gets a fixed random "caption" encoding (K tokens of width 4096), dropped to the empty
prompt (zeros, the null context the restoration experiment uses) for 30% of samples, so the text stream is
read by the model (the restoration prompt is injected there) and the empty-prompt model is a good prior.

Stages (`--stages 32:6000,64:2000`): the crop size of each run of steps, on the same photo scales (SHORTS), so the
model learns the statistics of the evaluation's scale from small, cheap crops first; one warm-up + cosine learning
rate schedule over all steps.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

import photos
import smallflux as small

CROP = 64  # pixels: 32 x 32 latent, 16 x 16 tokens (version 1's only stage)
SHORTS = (128, 160, 192, 256)  # the photos at these short sides (the evaluation uses short side 128)
NULL_RATE = 0.3
LOW_T_SHARE = 0.5  # half the batch draws t in [0, 0.5]: restoration only visits t <= T0 (0.4), spend effort there
RECIPES = {
    "v1": dict(photos="v1", stages=f"{CROP}:600", augment="none"),
    "v2": dict(photos="v2", stages="32:6000,64:2000", augment="colour"),
}
PHOTO_SETS = {"v1": photos.TRAIN, "v2": photos.TRAIN_V2}


def captions(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 77)
    return torch.randn(n, small.TOKENS, 4096, generator=g)


def parse_stages(text: str) -> list[tuple[int, int]]:
    """'32:6000,64:2000' -> [(32, 6000), (64, 2000)]: (crop size, steps) per stage."""
    stages = []
    for part in text.split(","):
        crop, steps = part.split(":")
        if int(crop) % 4 or int(steps) < 1:
            raise SystemExit(f"pretrain: stage {part!r}: the crop must be a multiple of 4 and the steps >= 1")
        stages.append((int(crop), int(steps)))
    return stages


def crop_at(step: int, stages) -> int:
    done = 0
    for crop, steps in stages:
        done += steps
        if step < done:
            return crop
    return stages[-1][0]


def colour_jitter(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per crop: the RGB channels permuted (half of the crops), gains in [0.8, 1.2] per channel, a brightness shift
    in [-0.05, 0.05]; clamped to [0, 1]. Grey photos become tinted ones, colour photos other colours."""
    out = []
    for img in x:
        if torch.rand((), generator=gen) < 0.5:
            img = img[..., torch.randperm(3, generator=gen)]
        gains = 0.8 + 0.4 * torch.rand(3, generator=gen)
        shift = 0.1 * (torch.rand((), generator=gen) - 0.5)
        out.append((img * gains + shift).clamp(0, 1))
    return torch.stack(out)


def training_images(names):
    """The photos at each short side of SHORTS they can be shown at without upscaling (and the photo of each)."""
    images, owner = [], []
    for i, name in enumerate(names):
        img = photos.photo(name)
        for s in SHORTS:
            if s <= min(img.shape[:2]) or s == SHORTS[0]:
                images.append(photos.resized(img, s))
                owner.append(i)
    return images, owner


def _atomic_save(tensors: dict, path: Path, meta: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def save_state(path: Path, net, opt, gen, step: int, losses: list, seconds: float) -> None:
    tensors = {f"net.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    names = dict(net.named_parameters())
    index = {id(p): n for n, p in names.items()}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                n = index[id(p)]
                tensors[f"opt.{n}.exp_avg"] = st["exp_avg"].contiguous()
                tensors[f"opt.{n}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
                tensors[f"opt.{n}.step"] = torch.as_tensor(st["step"]).reshape(1).clone()  # its own dtype
    tensors["gen_state"] = gen.get_state()
    _atomic_save(tensors, path, {"step": str(step), "losses": json.dumps(losses), "seconds": f"{seconds:.1f}"})


def load_state(path: Path, net, opt, gen) -> tuple[int, list, float]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    for n, p in net.named_parameters():
        if f"opt.{n}.exp_avg" in tensors:
            opt.state[p] = {"step": tensors[f"opt.{n}.step"].reshape(()).clone(),
                            "exp_avg": tensors[f"opt.{n}.exp_avg"].clone(),
                            "exp_avg_sq": tensors[f"opt.{n}.exp_avg_sq"].clone()}
    gen.set_state(tensors["gen_state"])
    return int(meta["step"]), json.loads(meta["losses"]), float(meta["seconds"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="v1",
                    help="photos, stages and augmentation together (each can be overridden below)")
    ap.add_argument("--photos", choices=sorted(PHOTO_SETS))
    ap.add_argument("--stages", help="crop:steps,... (v1: 64:600; v2: 32:6000,64:2000)")
    ap.add_argument("--augment", choices=["none", "colour"])
    ap.add_argument("--steps", type=int, help="version 1's single stage at 64 px: --stages 64:STEPS")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(small.CHECKPOINT))
    ap.add_argument("--state", help="the resumable training state (default: <out>.state.safetensors)")
    ap.add_argument("--state-every", type=int, default=200)
    ap.add_argument("--stop-after", type=int, help="stop (state saved) after this many steps of this run")
    ap.add_argument("--quick", action="store_true", help="a tiny model, 8 px crops, batch 2: seconds")
    args = ap.parse_args(argv)
    recipe = dict(RECIPES[args.recipe])
    for key in ("photos", "stages", "augment"):
        if getattr(args, key):
            recipe[key] = getattr(args, key)
    if args.steps:
        recipe["stages"] = f"{CROP}:{args.steps}"
    stages = parse_stages(recipe["stages"])
    total = sum(s for _, s in stages)
    out = Path(args.out)
    state_path = Path(args.state) if args.state else out.with_name(out.name.replace(".safetensors", "")
                                                                   + ".state.safetensors")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    small.start_host(small.find_comfyui(args.comfyui))
    from unlock_restore.nodes.training import exact_inplace_autograd, host_training_mode

    config = dict(small.CONFIG)
    if args.quick:
        config.update(hidden_size=32, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[8, 4, 4])
    patcher = small.build(config, seed=args.seed)
    base, latent = patcher.model, small.PixelLatent()
    net = base.diffusion_model
    with torch.no_grad():  # zero output layers: the fresh model predicts v = 0, a stable start (adaLN-zero style)
        for name, p in net.named_parameters():
            if name.startswith("final_layer.linear") or name.endswith("mod.lin.bias"):
                p.zero_()
    for p in net.parameters():
        p.requires_grad_(True)
    params = sum(p.numel() for p in net.parameters())
    names = PHOTO_SETS[recipe["photos"]]
    images, owner = training_images(names)
    caps = captions(len(names), args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    warm = max(1, total // 20)

    def schedule(s: int) -> float:  # linear warm-up, then cosine from 1 down to 0.1 of the learning rate
        return min(1.0, (s + 1) / warm) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(s, total) / total)))

    start, losses, before = 0, [], 0.0
    if state_path.exists():
        start, losses, before = load_state(state_path, net, opt, gen)
        print(f"resumed from {state_path} at step {start}/{total}", flush=True)
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
    # The schedule is a function of the step: set from it on resume, not stored.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule, last_epoch=start - 1)
    started = time.perf_counter()
    elapsed = lambda: before + time.perf_counter() - started  # noqa: E731

    def save_weights(done: int):
        sd = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
        meta = {"config": json.dumps(config), "seed": str(args.seed), "steps": str(done),
                "batch": str(args.batch), "lr": str(args.lr), "crop": str(stages[-1][0]), "shorts": json.dumps(SHORTS),
                "images": json.dumps({n: photos.LICENCES[n] for n in names}), "params": str(params),
                "threads": str(args.threads), "seconds": f"{elapsed():.0f}", "recipe": json.dumps(recipe),
                "stages": recipe["stages"],
                "loss_every_50": json.dumps([round(sum(losses[i:i + 50]) / len(losses[i:i + 50]), 4)
                                             for i in range(0, len(losses), 50)])}
        if recipe == RECIPES["v1"]:  # version 1's metadata, exactly as the committed file has it
            for key in ("recipe", "stages"):
                meta.pop(key)
        out.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(sd, out, meta)

    stop = total if args.stop_after is None else min(total, start + args.stop_after)
    for step in range(start, stop):
        crop = 8 if args.quick else crop_at(step, stages)
        batch = 2 if args.quick else args.batch
        idx = torch.randint(len(images), (batch,), generator=gen)
        pixels = torch.cat([photos.random_crops([images[i]], 1, crop, gen) for i in idx.tolist()])
        if recipe["augment"] == "colour":
            pixels = colour_jitter(pixels, gen)
        x0 = latent.to_model_space(pixels)
        u = torch.rand(batch, generator=gen)
        t = torch.where(torch.arange(batch) < batch * LOW_T_SHARE, 0.5 * u, u).clamp(min=1e-3)
        e = torch.randn(x0.shape, generator=gen)
        tt = t.view(-1, 1, 1, 1)
        x_t = (1 - tt) * x0 + tt * e
        keep = (torch.rand(batch, generator=gen) >= NULL_RATE).view(-1, 1, 1).float()
        ctx = caps[[owner[i] for i in idx.tolist()]] * keep
        conds = base.extra_conds(noise=x_t, device="cpu", cross_attn=ctx, pooled_output=torch.zeros(batch, 768))
        # The host's training flag keeps its backward-less kernels (v0.20.1's comfy-kitchen rope) out of autograd.
        with host_training_mode(), exact_inplace_autograd():  # FLUX blocks update activations in place
            x0_hat = base.apply_model(x_t, t, **{k: v.cond for k, v in conds.items()})
            loss = torch.mean(((x0_hat - x0) / tt) ** 2)  # = |v_hat - v|^2
            opt.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise SystemExit(f"pretrain: the loss went {losses[-1]} at step {step + 1}; the state file keeps the "
                             f"last good state ({state_path})")
        done = step + 1
        if done % 25 == 0 or done == start + 1:
            recent = losses[-25:]
            print(f"step {done}/{total} crop {crop} loss {sum(recent) / len(recent):.4f} "
                  f"{(time.perf_counter() - started) / (done - start):.2f} s/step", flush=True)
        if done % args.state_every == 0 or done == stop:
            save_state(state_path, net, opt, gen, done, losses, elapsed())
        if done % 100 == 0 or done == total:
            save_weights(done)  # a usable checkpoint at any time, if the run must be cut short
    if stop < total:
        print(f"stopped at step {stop}/{total}; the same command resumes from {state_path}")
        return 0
    save_weights(total)
    print(f"saved {out}: {params} parameters, {total} steps ({recipe['stages']}) in {elapsed():.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
