#!/usr/bin/env python3
"""The prior gate of the reproduction (issue 15): does the small model, as a denoiser, beat a classical one?

    python benchmarks/prior_gate.py --comfyui PATH [--checkpoint FILE] [--threads 2] [--out FILE]
    python benchmarks/prior_gate.py --comfyui PATH --quick --out FILE   # seconds: an untrained tiny model

A restoration prompt can only steer what the frozen model already knows. The gate asks whether the model knows
photos better than non-local means does: on clean held-out tiles, noised along the pretraining's own flow
(x_t = (1 - t) x0 + t e in the model's latent space), is the model's one-step estimate x0_hat = apply_model(x_t, t)
under the empty prompt closer to x0 than non-local means applied to the same noisy tile?

- Tiles: TILES_PER_PHOTO 64 px tiles from each of the five HELD_OUT_V2 photos (none of them in any pretraining
  set), at short side 128 (the pretraining's smallest scale), at seeded positions; one noise draw per tile and t,
  shared by both denoisers.
- Non-local means (scikit-image `denoise_nl_means`, fast mode, patch 5, distance 6) sees the noisy tile in pixel
  space, x_t / (1 - t) decoded: PixelLatent is orthonormal up to SPREAD, so its noise is exactly Gaussian with
  sigma = t / (2 SPREAD (1 - t)) per pixel, which NLM is given. Its filter strength h is the best of NLM_H x sigma
  on these tiles themselves (an oracle choice: the most NLM can do here, so the gate is conservative).
- Score: PSNR (data range 1) of each output, clamped to [0, 1], against the clean tile; the margin model - NLM per
  tile, its mean and a hierarchical bootstrap 95% CI (photos, then tiles: benchmarks/stats.py).
- The gate passes when the margin's CI lies above 0 at every GATE_T.

Writes benchmarks/results/prior_gate.json (or --out).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "small_model"))
import photos  # noqa: E402
import smallflux as small  # noqa: E402
from stats import hierarchical_bootstrap  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "prior_gate.json"
TS = (0.05, 0.1, 0.2, 0.4, 0.6)
GATE_T = (0.2, 0.4)
NLM_H = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2)
TILE, SHORT, TILES_PER_PHOTO = 64, 128, 8
SEED = 0
QUICK = dict(tiles_per_photo=1, ts=(0.2, 0.4), tile=32)
QUICK_CONFIG = dict(small.CONFIG, hidden_size=32, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[8, 4, 4])


def held_out_tiles(per_photo: int, tile: int, seed: int = SEED) -> dict[str, torch.Tensor]:
    """photo -> (per_photo, tile, tile, 3) tiles of HELD_OUT_V2 at short side SHORT, at seeded positions."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in photos.HELD_OUT_V2:
        img = photos.resized(photos.photo(name), SHORT)
        h, w = img.shape[:2]
        tiles = []
        for _ in range(per_photo):
            top = int(torch.randint(h - tile + 1, (1,), generator=g))
            left = int(torch.randint(w - tile + 1, (1,), generator=g))
            tiles.append(img[top:top + tile, left:left + tile])
        out[name] = torch.stack(tiles)
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b) ** 2).mean())
    return 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")


def nlm(noisy: torch.Tensor, sigma: float, h_factor: float) -> torch.Tensor:
    from skimage.restoration import denoise_nl_means

    out = denoise_nl_means(noisy.double().numpy(), h=h_factor * sigma, sigma=sigma, patch_size=5, patch_distance=6,
                           fast_mode=True, channel_axis=-1)
    return torch.from_numpy(out).float()


def one_step(base, x_t: torch.Tensor, t: float, tokens: int) -> torch.Tensor:
    """x0_hat of the model under the empty prompt (zeros: the small model's null context, pretrain.py)."""
    n = x_t.shape[0]
    conds = base.extra_conds(noise=x_t, device="cpu", cross_attn=torch.zeros(n, tokens, 4096),
                             pooled_output=torch.zeros(n, 768))
    with torch.no_grad():
        return base.apply_model(x_t, torch.full((n,), t), **{k: v.cond for k, v in conds.items()}).float()


def gate(base, tiles: dict[str, torch.Tensor], ts, tokens: int, seed: int = SEED) -> dict:
    latent = small.PixelLatent()
    per_t = {}
    for t in ts:
        sigma = t / (2 * small.SPREAD * (1 - t))
        model_scores, nlm_scores = {}, {h: {} for h in NLM_H}
        for i, (name, clean) in enumerate(tiles.items()):
            g = torch.Generator().manual_seed(seed * 1000003 + i * 1009 + round(t * 1000))
            x0 = latent.to_model_space(clean)
            x_t = (1 - t) * x0 + t * torch.randn(x0.shape, generator=g)
            denoised = latent.from_model_space(one_step(base, x_t, t, tokens))
            model_scores[name] = [psnr(d, c) for d, c in zip(denoised, clean)]
            noisy = latent.from_model_space(x_t / (1 - t))  # clean + N(0, sigma^2) per pixel, exactly
            for h in NLM_H:
                nlm_scores[h][name] = [psnr(nlm(n_, sigma, h), c) for n_, c in zip(noisy, clean)]
        mean = lambda scores: sum(sum(v) for v in scores.values()) / sum(len(v) for v in scores.values())  # noqa
        best_h = max(NLM_H, key=lambda h: mean(nlm_scores[h]))
        margins = {n: [m - c for m, c in zip(model_scores[n], nlm_scores[best_h][n])] for n in tiles}
        per_t[f"{t:g}"] = {
            "sigma_pixel": round(sigma, 5), "model_psnr": round(mean(model_scores), 3),
            "nlm_psnr": round(mean(nlm_scores[best_h]), 3), "nlm_h_over_sigma": best_h,
            "nlm_psnr_by_h": {f"{h:g}": round(mean(nlm_scores[h]), 3) for h in NLM_H},
            "margin_db": {k: (round(v, 3) if isinstance(v, float) else v)
                          for k, v in hierarchical_bootstrap(margins, seed=seed).items()},
            "per_photo_margin_db": {n: round(sum(v) / len(v), 3) for n, v in margins.items()},
        }
    return per_t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui")
    ap.add_argument("--checkpoint", default=str(small.CHECKPOINT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="an untrained tiny model, one small tile per photo")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    small.start_host(small.find_comfyui(args.comfyui))
    if args.quick:
        patcher, meta, ckpt = small.build(QUICK_CONFIG), {"steps": "0"}, None
        per_photo, ts, tile = QUICK["tiles_per_photo"], QUICK["ts"], QUICK["tile"]
    else:
        ckpt = Path(args.checkpoint)
        patcher, meta = small.load_checkpoint(ckpt)
        per_photo, ts, tile = TILES_PER_PHOTO, TS, TILE
    tiles = held_out_tiles(per_photo, tile)
    per_t = gate(patcher.model, tiles, ts, small.TOKENS)
    passed = {t: per_t[f"{t:g}"]["margin_db"]["ci"][0] > 0 for t in GATE_T if f"{t:g}" in per_t}
    result = {
        "question": "does the model's one-step x0 estimate beat non-local means on clean held-out tiles?",
        "gate": {"at_t": list(GATE_T), "passed_at": {f"{t:g}": p for t, p in passed.items()},
                 "passed": bool(passed) and all(passed.values()),
                 "rule": "the hierarchical-bootstrap 95% CI of the PSNR margin (model - NLM) lies above 0"},
        "per_t": per_t,
        "checkpoint": None if ckpt is None else {
            "file": str(ckpt.resolve().relative_to(REPO)) if ckpt.resolve().is_relative_to(REPO) else str(ckpt),
            "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
            "pretrain": {k: meta.get(k) for k in ("steps", "batch", "lr", "seed", "seconds", "images", "stages")
                         if meta.get(k) is not None}},
        "tiles": {"photos": {n: photos.LICENCES[n] for n in photos.HELD_OUT_V2}, "per_photo": per_photo,
                  "size": tile, "short_side": SHORT, "seed": SEED},
        "nlm": {"function": "skimage.restoration.denoise_nl_means", "patch_size": 5, "patch_distance": 6,
                "fast_mode": True, "h_grid_over_sigma": list(NLM_H), "h_choice": "best mean PSNR on these tiles"},
        "command": "python benchmarks/prior_gate.py" + (" --quick" if args.quick else "")
                   + (f" --checkpoint {args.checkpoint}" if args.checkpoint != str(small.CHECKPOINT) else ""),
        "threads": args.threads, "seconds": round(time.perf_counter() - started, 1),
    }
    small.write_result(Path(args.out), result)
    for t, row in per_t.items():
        m = row["margin_db"]
        print(f"t={t}: model {row['model_psnr']:.2f} dB, NLM {row['nlm_psnr']:.2f} dB (h {row['nlm_h_over_sigma']} "
              f"sigma), margin {m['mean']:+.2f} dB [{m['ci'][0]:+.2f}, {m['ci'][1]:+.2f}]")
    print("gate", "PASSED" if result["gate"]["passed"] else "NOT passed", result["gate"]["passed_at"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
