#!/usr/bin/env python3
"""Pretrain the small FLUX-family model from scratch (rectified flow) on crops of the TRAIN photos.

    python benchmarks/small_model/pretrain.py --comfyui PATH [--steps 600] [--batch 16] [--seed 0] [--threads 1]

Writes benchmarks/small_model/flux_small.safetensors (fp16 weights; the config, seed, steps, image list and
loss curve in its metadata). Deterministic for a seed and thread count. ~2 s/step on one CPU core at the
defaults (20-30 min, depending on load).

Objective: the standard flow-matching one the FLUX family uses: x_t = (1 - t) x0 + t e, velocity MSE (the host's
model wrapper returns x0_hat = x_t - t v, so v = (x_t - x0_hat) / t). The model is text-conditioned like FLUX:
each training photo gets a fixed random "caption" encoding (K tokens of width 4096), dropped to the empty
prompt (zeros, the null context the restoration experiment uses) for 30% of samples, so the text stream is
read by the model (the restoration prompt is injected there) and the empty-prompt model is a good prior.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

import photos
import smallflux as small

CROP = 64  # pixels: 32 x 32 latent, 16 x 16 tokens
SHORTS = (128, 160, 192, 256)  # the photos at these short sides (the evaluation uses short side 128)
NULL_RATE = 0.3
LOW_T_SHARE = 0.5  # half the batch draws t in [0, 0.5]: restoration only visits t <= T0 (0.4), spend effort there


def captions(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 77)
    return torch.randn(n, small.TOKENS, 4096, generator=g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(small.CHECKPOINT))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    small.start_host(small.find_comfyui(args.comfyui))
    from safetensors.torch import save_file
    from unlock_restore.nodes.training import exact_inplace_autograd

    patcher = small.build(seed=args.seed)
    base, latent = patcher.model, small.PixelLatent()
    net = base.diffusion_model
    with torch.no_grad():  # zero output layers: the fresh model predicts v = 0, a stable start (adaLN-zero style)
        for name, p in net.named_parameters():
            if name.startswith("final_layer.linear") or name.endswith("mod.lin.bias"):
                p.zero_()
    for p in net.parameters():
        p.requires_grad_(True)
    params = sum(p.numel() for p in net.parameters())
    names = photos.TRAIN
    images = [photos.resized(photos.photo(n), s) for n in names for s in SHORTS]
    owner = [i for i in range(len(names)) for _ in SHORTS]
    caps = captions(len(names), args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
    losses, started = [], time.perf_counter()

    def save(done: int):
        sd = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
        meta = {"config": json.dumps(small.CONFIG), "seed": str(args.seed), "steps": str(done),
                "batch": str(args.batch), "lr": str(args.lr), "crop": str(CROP), "shorts": json.dumps(SHORTS),
                "images": json.dumps({n: photos.LICENCES[n] for n in names}), "params": str(params),
                "threads": str(args.threads), "seconds": f"{time.perf_counter() - started:.0f}",
                "loss_every_50": json.dumps([round(sum(losses[i:i + 50]) / len(losses[i:i + 50]), 4)
                                             for i in range(0, len(losses), 50)])}
        save_file(sd, args.out, metadata=meta)

    for step in range(args.steps):
        idx = torch.randint(len(images), (args.batch,), generator=gen)
        x0 = latent.to_model_space(torch.cat([photos.random_crops([images[i]], 1, CROP, gen) for i in idx.tolist()]))
        u = torch.rand(args.batch, generator=gen)
        t = torch.where(torch.arange(args.batch) < args.batch * LOW_T_SHARE, 0.5 * u, u).clamp(min=1e-3)
        e = torch.randn(x0.shape, generator=gen)
        tt = t.view(-1, 1, 1, 1)
        x_t = (1 - tt) * x0 + tt * e
        keep = (torch.rand(args.batch, generator=gen) >= NULL_RATE).view(-1, 1, 1).float()
        ctx = caps[[owner[i] for i in idx.tolist()]] * keep
        conds = base.extra_conds(noise=x_t, device="cpu", cross_attn=ctx, pooled_output=torch.zeros(args.batch, 768))
        with exact_inplace_autograd():  # FLUX blocks update activations in place
            x0_hat = base.apply_model(x_t, t, **{k: v.cond for k, v in conds.items()})
        loss = torch.mean(((x0_hat - x0) / tt) ** 2)  # = |v_hat - v|^2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 25 == 0 or step == 0:
            recent = losses[-25:]
            print(f"step {step + 1}/{args.steps} loss {sum(recent) / len(recent):.4f} "
                  f"{(time.perf_counter() - started) / (step + 1):.2f} s/step", flush=True)
        if (step + 1) % 100 == 0:
            save(step + 1)  # a usable checkpoint at any time, if the run must be cut short
    save(args.steps)
    print(f"saved {args.out}: {params} parameters, {args.steps} steps in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
