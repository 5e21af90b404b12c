#!/usr/bin/env python3
"""The decisive small-scale test of the paper's central claim (issue 15): bridge vs naive prompt training, as a
resumable factorial on the version 2 prior (benchmarks/small_model/flux_small_v2.safetensors, which passes the
prior gate: benchmarks/results/prior_gate_v2.json).

    python benchmarks/factorial.py --comfyui PATH --budget-minutes 60 [--threads 2]   # one chunk, then the report
    python benchmarks/factorial.py --report-only                                      # the report from the jobs
    python benchmarks/factorial.py --comfyui PATH --quick --out-dir DIR               # seconds: a tiny model

Design (every number below is a constant in this file):
- Arms: objective {bridge, naive} x loss weighting {x0, velocity}, each trained with the pack's own trainer
  (nodes.training.PromptTrainer + train, what the Train node runs), gated, K = 16, 1,000 steps, batch 8, crops of
  CROP px cut from the training photos at short side SHORT, a fresh crop and degradation draw every step.
  Each arm is evaluated with two samplers from the same bridge start (1 - T0) Y + T0 e: the Bridge Sampler
  (sample_unlock_bridge) and the host's Euler (comfy.samplers 'euler'), both through the host's guider.
- Learning rate per arm and degradation, from LRS, picked on seed 0 by the validation PSNR (VALIDATION photos,
  never trained on by any prompt) at the last step, mean of the two samplers; seeds 1 and 2 then run at the pick.
- Baselines: the degraded input, the unprompted bridge (both samplers), a 64-bin per-channel lookup table fitted
  on training pairs, and non-local means (scikit-image) for noise with its strength fitted on training pairs.
- Evaluation: TILES_PER_PHOTO tiles of CROP px from each HELD_OUT_V2 photo at short side SHORT (the training
  scale; the prior gate's photos), and the whole held-out photos at short side WHOLE_SHORT (coarser) as a
  separate set; DRAWS degradation draws x SAMPLER_SEEDS sampler seeds, paired across arms; PSNR and SSIM
  (imaging.metrics, the official protocol) and GMSD (a perceptual full-reference index that runs offline).
  Held-out PSNR is logged at every LOG_STEPS step (light protocol: one draw, one seed, at the steps in LIGHT).
- Divergence: training stopped by the trainer's non-finite-loss rule, or a mean loss over the last 25 steps above
  EXPLODE x the mean over the first 25. A diverged run is scored with the last good prompt, as the node keeps it.
- Statistics (benchmarks/stats.py): the primary contrast (bridge, its better weighting, bridge sampler) minus
  (naive, its better weighting, its better sampler), per tile, mean over the in-range degradations and seeds at
  the last step; hierarchical bootstrap over photos then tiles, 95% CI; equivalence margin MARGIN_DB. The better
  weighting and sampler are chosen on the validation photos, never on the held-out ones. The same at 250 steps.

Resumable: each job writes one JSON file (atomically) under benchmarks/results/factorial/; a rerun skips the
files that exist, so the jobs can be spread over sessions and committed as they finish. Each run (a chunk) also
keeps a record under benchmarks/results/factorial_chunks/ (its jobs and wall time). The report (written into
benchmarks/results/reproduction.json under "factorial", and rendered into docs/reproduction.md) reads only those
files, tabulates the run time per chunk and says which jobs are still missing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "small_model"))
import photos  # noqa: E402
import smallflux as small  # noqa: E402
from stats import hierarchical_bootstrap  # noqa: E402

JOBS_DIR = Path("benchmarks/results/factorial")
# One record per chunk (one run of this script): when, where, which jobs, and its wall time, so the report can say
# what each chunk cost on the machine it ran on. Rewritten after every job, so a chunk cut short is still counted.
CHUNKS_DIR = Path("benchmarks/results/factorial_chunks")
REPORT_JSON = Path("benchmarks/results/reproduction.json")
CHECKPOINT = REPO / "benchmarks" / "small_model" / "flux_small_v2.safetensors"
PRIOR_GATE = REPO / "benchmarks" / "results" / "prior_gate_v2.json"

# Degradations inside the working range (the degraded input scores more than RANGE_DB below the model's own
# clean-image score: checked and reported), plus low light as a tone-dominated control. Motion blur is dropped: at
# these scales even its strongest setting leaves the input above what the model reproduces from a clean photo (the
# `range` job measures it and the report says so).
DEGRADATIONS = {"gaussian_noise": 0.5, "rain": 0.8, "haze": 0.7, "low_light": 0.6}
DROPPED = {"motion_blur": 1.0}  # the Degrade node's strongest setting
CONTROLS = ("low_light",)
RANGE_DB = 2.0
OBJECTIVES = ("bridge", "naive")
LOSSES = ("x0", "velocity")
SAMPLERS = ("bridge", "euler")
VALIDATION = ["coffee", "camera", "gravel"]  # from TRAIN_V2: seen in pretraining, never by a prompt
PROMPT_TRAIN = [n for n in photos.TRAIN_V2 if n not in VALIDATION]
MARGIN_DB = 0.25
EXPLODE = 10.0
FULL = dict(lrs=(0.003, 0.01, 0.03), seeds=(0, 1, 2), steps=1000, log_steps=(125, 250, 500, 1000), light=(125, 500),
            batch=8, crop=32, short=128, whole_short=64, tiles_per_photo=8, val_tiles_per_photo=8, draws=2,
            sampler_seeds=2, t0=0.4, sample_steps=20, fit_pairs=128, tokens=small.TOKENS,
            degradations=tuple(DEGRADATIONS))
# A seconds-long run of the same code on a tiny untrained model (tests): fewer of everything.
QUICK = dict(lrs=(0.01, 0.03), seeds=(0, 1), steps=4, log_steps=(2, 4), light=(2,), batch=2, crop=16, short=32,
             whole_short=24, tiles_per_photo=1, val_tiles_per_photo=1, draws=2, sampler_seeds=1, t0=0.4,
             sample_steps=2, fit_pairs=4, tokens=4, degradations=("gaussian_noise", "low_light"))
QUICK_CONFIG = dict(small.CONFIG, hidden_size=32, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[8, 4, 4])
NODE = "factorial"


# -- the plan -----------------------------------------------------------------------------------------------------
def job_name(kind: str, deg: str, objective: str = "", loss: str = "", lr: float = 0.0, seed: int = 0) -> str:
    if kind != "train":
        return f"{kind}__{deg}"
    return f"train__{deg}__{objective}__{loss}__lr{lr:g}__s{seed}"


def plan(cfg: dict, done: dict[str, dict]) -> list[dict]:
    """The jobs not yet done that can run now, in order: the clean-image score, each degradation's baselines,
    every arm's learning-rate sweep on seed 0 (one degradation after another), then the other seeds at each
    finished sweep's pick. A later seed's job appears only once its sweep is complete."""
    jobs = [{"kind": "clean", "deg": "none"}] + [{"kind": "range", "deg": d} for d in DROPPED]
    jobs += [{"kind": "baseline", "deg": d} for d in cfg["degradations"]]
    for d in cfg["degradations"]:
        for o in OBJECTIVES:
            for loss in LOSSES:
                jobs += [{"kind": "train", "deg": d, "objective": o, "loss": loss, "lr": lr, "seed": cfg["seeds"][0]}
                         for lr in cfg["lrs"]]
    for d in cfg["degradations"]:
        for o in OBJECTIVES:
            for loss in LOSSES:
                lr = pick_lr(cfg, done, d, o, loss)
                if lr is not None:
                    jobs += [{"kind": "train", "deg": d, "objective": o, "loss": loss, "lr": lr, "seed": s}
                             for s in cfg["seeds"][1:]]
    for j in jobs:
        j["name"] = job_name(j["kind"], j["deg"], j.get("objective", ""), j.get("loss", ""), j.get("lr", 0.0),
                             j.get("seed", 0))
    return [j for j in jobs if j["name"] not in done]


def total_jobs(cfg: dict) -> int:
    n_deg, n_arms = len(cfg["degradations"]), len(OBJECTIVES) * len(LOSSES)
    return 1 + len(DROPPED) + n_deg + n_deg * n_arms * (len(cfg["lrs"]) + len(cfg["seeds"]) - 1)


def pick_lr(cfg: dict, done: dict, deg: str, objective: str, loss: str) -> float | None:
    """The learning rate with the best validation PSNR at the last step (mean of both samplers) on seed 0; None
    until every learning rate of that sweep has run."""
    last = str(cfg["steps"])
    scores = {}
    for lr in cfg["lrs"]:
        job = done.get(job_name("train", deg, objective, loss, lr, cfg["seeds"][0]))
        if job is None:
            return None
        scores[lr] = float(np.mean([job["validation"][last][s] for s in SAMPLERS]))
    return max(cfg["lrs"], key=lambda lr: (scores[lr], -lr))


def load_done(out: Path) -> dict[str, dict]:
    folder = out / JOBS_DIR
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def load_chunks(out: Path) -> list[dict]:
    folder = out / CHUNKS_DIR
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(found, key=lambda c: c["started"])


def chunk_rows(chunks: list[dict], done: dict[str, dict]) -> list[dict]:
    """Per chunk: its jobs that are still on file, their summed compute, and the wall time where it was measured."""
    rows = []
    for c in chunks:
        jobs = [n for n in c["jobs"] if n in done]
        rows.append({"started": c["started"], "host": c["host"], "threads": c["threads"], "jobs": len(jobs),
                     "job_seconds": round(sum(done[n].get("seconds", 0) for n in jobs), 1),
                     "wall_minutes": None if c.get("wall_s") is None else round(c["wall_s"] / 60, 1),
                     "source": c.get("source", "measured")})
    return rows


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- metrics and classical baselines (numpy) ----------------------------------------------------------------------
def gmsd(restored: np.ndarray, reference: np.ndarray) -> float:
    """Gradient Magnitude Similarity Deviation (Xue et al. 2014; lower is better, 0 for identical images), on the
    luma of (H, W, 3) images in [0, 1], as the authors' reference code: 2x2 average and downsample, Prewitt
    gradients, c = 170 on the 0-255 scale."""
    from scipy.ndimage import convolve

    def prep(img):
        y = (img[..., :3] @ np.array([0.299, 0.587, 0.114])) * 255.0
        y = convolve(y, np.full((2, 2), 0.25), mode="nearest")
        return y[::2, ::2]

    hx = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0

    def magnitude(y):
        return np.sqrt(convolve(y, hx, mode="nearest") ** 2 + convolve(y, hx.T, mode="nearest") ** 2)

    a, b = magnitude(prep(restored)), magnitude(prep(reference))
    gms = (2 * a * b + 170.0) / (a ** 2 + b ** 2 + 170.0)
    return float(gms.std())


def scores(restored: torch.Tensor, clean: torch.Tensor) -> dict[str, list[float]]:
    """Per image: PSNR and SSIM (the pack's metrics, scikit-image as the official protocol) and GMSD."""
    from unlock_restore.imaging.metrics import psnr_ssim

    per = psnr_ssim(restored.clamp(0, 1), clean)
    r, c = restored.clamp(0, 1).double().numpy(), clean.double().numpy()
    return {"psnr": [p for p, _ in per], "ssim": [s for _, s in per], "gmsd": [gmsd(a, b) for a, b in zip(r, c)]}


class ToneTable:
    """The lookup-table baseline: per channel, 64 bins of the degraded value -> the mean clean value there (empty
    bins interpolated), fitted on training pairs."""

    BINS = 64

    def __init__(self, clean: torch.Tensor, degraded: torch.Tensor):
        centres = (np.arange(self.BINS) + 0.5) / self.BINS
        self.curves = []
        for ch in range(3):
            x, y = degraded[..., ch].flatten().double().numpy(), clean[..., ch].flatten().double().numpy()
            idx = np.minimum((x * self.BINS).astype(int), self.BINS - 1)
            count = np.bincount(idx, minlength=self.BINS)
            total = np.bincount(idx, weights=y, minlength=self.BINS)
            full = count > 0
            self.curves.append((centres[full], total[full] / count[full]))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = images.clone().double()
        for ch, (xs, ys) in enumerate(self.curves):
            out[..., ch] = torch.from_numpy(np.interp(images[..., ch].double().numpy(), xs, ys))
        return out.float().clamp(0, 1)


def nlm_denoise(images: torch.Tensor, h_factor: float) -> torch.Tensor:
    """Non-local means with the noise level estimated from each image (no oracle), strength h_factor x sigma."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    out = []
    for img in images.double().numpy():
        sigma = float(estimate_sigma(img, channel_axis=-1, average_sigmas=True))
        out.append(denoise_nl_means(img, h=h_factor * sigma, sigma=sigma, patch_size=5, patch_distance=6,
                                    fast_mode=True, channel_axis=-1))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


NLM_H = (0.4, 0.6, 0.8, 1.0, 1.2)


# -- the experiment -----------------------------------------------------------------------------------------------
def _fresh_trainer_class():
    from unlock_restore.nodes.training import PromptTrainer

    class FreshPairs(PromptTrainer):
        """The pack's trainer, with a fresh crop and degradation draw for every batch (the held batch is fixed,
        as its generator is): training never sees the same degraded image twice."""

        def use_pool(self, vae, pool, crop, degradation, strength):
            self.vae, self.pool, self.crop_px, self.deg_name, self.strength = vae, pool, crop, degradation, strength

        def batch(self, size, gen):
            from unlock_restore.imaging.degradations import degrade

            seed = int(torch.randint(2 ** 31 - 1, (1,), generator=gen))
            clean = photos.random_crops(self.pool, size, self.crop_px, torch.Generator().manual_seed(seed))
            degraded = degrade(clean, self.deg_name, self.strength, seed)
            self.clean, self.degraded = self._encode(self.vae, clean), self._encode(self.vae, degraded)
            return super().batch(size, gen)

    return FreshPairs


class Factorial:
    def __init__(self, patcher, cfg: dict):
        from prior_gate import held_out_tiles

        self.model, self.cfg, self.vae = patcher, cfg, small.PixelLatent()
        self.pool = [photos.resized(photos.photo(n), cfg["short"]) for n in PROMPT_TRAIN]
        self.tiles = held_out_tiles(cfg["tiles_per_photo"], cfg["crop"])  # photo -> tiles, seeded positions
        self.tile_photos = [n for n, t in self.tiles.items() for _ in range(t.shape[0])]
        self.test = torch.cat(list(self.tiles.values()))
        self.whole = {n: photos.resized(photos.photo(n), cfg["whole_short"]) for n in photos.HELD_OUT_V2}
        g = torch.Generator().manual_seed(7)
        self.val = photos.random_crops([photos.resized(photos.photo(n), cfg["short"]) for n in VALIDATION],
                                       len(VALIDATION) * cfg["val_tiles_per_photo"], cfg["crop"], g)
        self.conditioning = [[torch.zeros(1, cfg["tokens"], 4096), {"pooled_output": torch.zeros(1, 768)}]]

    # Paired across arms: draw d of a set uses one seed, whatever the arm.
    @staticmethod
    def draw_seed(draw: int, where: str) -> int:
        return {"test": 10_000, "whole": 20_000, "val": 30_000}[where] + draw

    def sets(self, whole: bool) -> dict:
        """The scored sets: key -> (where its draws are seeded, clean images); the whole photos one by one (their
        sizes differ)."""
        out = {"tiles": ("test", self.test)}
        if whole:
            out.update({f"whole:{n}": ("whole", img[None]) for n, img in self.whole.items()})
        return out

    def degraded(self, images, deg, draw, where):
        from unlock_restore.imaging.degradations import degrade

        strength = DEGRADATIONS[deg] if deg in DEGRADATIONS else DROPPED[deg]
        return degrade(images, deg, strength, self.draw_seed(draw, where))

    def trainer(self, deg, objective, loss, seed):
        g = torch.Generator().manual_seed(seed)
        clean = photos.random_crops(self.pool, self.cfg["batch"], self.cfg["crop"], g)
        with torch.inference_mode():  # as the host runs every node; the trainer leaves it itself
            tr = _fresh_trainer_class()(
                self.model, self.vae, clean, clean, mode="gated", objective=objective, loss=loss, t0=self.cfg["t0"],
                seed=seed, node=NODE, tokens=self.cfg["tokens"], conditioning=self.conditioning, degradation=deg,
                # The small model was pretrained on the continuous t (pretrain.py).
                time_index="continuous")
        tr.use_pool(self.vae, self.pool, self.cfg["crop"], deg, DEGRADATIONS[deg])
        return tr

    def restore(self, prompt, images, sampler: str, seed: int, strength: float = 1.0) -> torch.Tensor:
        """The prompt applied as Apply Restoration Prompt does, sampled from the bridge start by `sampler` through
        the host's guider (as SamplerCustomAdvanced with the Bridge Schedule), decoded."""
        import comfy.sample
        import comfy.samplers
        from unlock_restore.bridge import time_grid
        from unlock_restore.nodes.prompting import prepare
        from unlock_restore.nodes.sampling import positive_guider, sample_unlock_bridge

        with torch.inference_mode():
            patched, cond = prepare(self.model, prompt, strength, node=NODE)
            guider = positive_guider(patched, cond)
            sampler_obj = (comfy.samplers.KSAMPLER(sample_unlock_bridge) if sampler == "bridge"
                           else comfy.samplers.sampler_object("euler"))
            latent = self.vae.encode(images)
            noise = comfy.sample.prepare_noise(latent, seed, list(range(images.shape[0])))
            out = guider.sample(noise, latent, sampler_obj, time_grid(self.cfg["t0"], self.cfg["sample_steps"]),
                                disable_pbar=True, seed=seed)
            return self.vae.decode(out)

    def evaluate(self, prompt, strength: float, deg: str | None, draws: int, seeds: int, whole: bool) -> dict:
        """sampler -> {set: {metric: per-image values averaged over draws and sampler seeds}} (+ per-draw means)."""
        out = {}
        sets = self.sets(whole)
        for sampler in SAMPLERS:
            res = {}
            for key, (where, clean) in sets.items():
                runs = []
                for d in range(draws):
                    inp = clean if deg is None else self.degraded(clean, deg, d, where)
                    for s in range(seeds):
                        runs.append(scores(self.restore(prompt, inp, sampler, 100 + s, strength), clean))
                res[key] = _mean_runs(runs)
            out[sampler] = _fold_whole(res)
        return out

    def validation(self, prompt, deg) -> dict:
        inp = self.degraded(self.val, deg, 0, "val")
        return {s: round(float(np.mean(scores(self.restore(prompt, inp, s, 100), self.val)["psnr"])), 4)
                for s in SAMPLERS}

    # -- jobs ---------------------------------------------------------------------------------------------------
    def run(self, job: dict) -> dict:
        started = time.perf_counter()
        result = {"job": job, **getattr(self, f"_{job['kind']}")(job)}
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result

    def _zero_prompt(self):
        """The untrained prompt (gates 0): with strength 0 the unprompted model, exactly."""
        return self.trainer(self.cfg["degradations"][0], "bridge", "x0", 0).snapshot({})

    def _clean(self, job):
        """What the model loses by itself: clean held-out tiles through the unprompted bridge (both samplers)."""
        c = self.cfg
        return {"unprompted": self.evaluate(self._zero_prompt(), 0.0, None, 1, c["sampler_seeds"], whole=True)}

    def _range(self, job):
        """A dropped degradation's input at its strongest setting, scored as the baselines score theirs."""
        runs = [scores(self.degraded(self.test, job["deg"], d, "test"), self.test) for d in range(self.cfg["draws"])]
        return {"strength": DROPPED[job["deg"]],
                "degraded": {"tiles": _mean_runs(runs)}}

    def _baseline(self, job):
        c, deg = self.cfg, job["deg"]
        degraded = {}
        for key, (where, clean) in self.sets(whole=True).items():
            runs = [scores(self.degraded(clean, deg, d, where), clean) for d in range(c["draws"])]
            degraded[key] = _mean_runs(runs)
        result = {"degraded": _fold_whole(degraded),
                  "unprompted": self.evaluate(self._zero_prompt(), 0.0, deg, c["draws"], c["sampler_seeds"], True)}
        # Classical baselines, fitted on fresh training pairs (never on held-out photos).
        g = torch.Generator().manual_seed(99)
        fit_clean = photos.random_crops(self.pool, c["fit_pairs"], c["crop"], g)
        from unlock_restore.imaging.degradations import degrade

        fit_deg = degrade(fit_clean, deg, DEGRADATIONS[deg], 99)
        methods = {"lookup_table": ToneTable(fit_clean, fit_deg)}
        if deg == "gaussian_noise":
            h = max(NLM_H, key=lambda h: float(np.mean(scores(nlm_denoise(fit_deg, h), fit_clean)["psnr"])))
            methods["nlm"] = lambda x, h=h: nlm_denoise(x, h)
            result["nlm_h_over_sigma"] = h
        for name, fn in methods.items():
            res = {}
            for key, (where, clean) in self.sets(whole=True).items():
                runs = [scores(fn(self.degraded(clean, deg, d, where)), clean) for d in range(c["draws"])]
                res[key] = _mean_runs(runs)
            result[name] = _fold_whole(res)
        return result

    def _train(self, job):
        import comfy.model_management
        from unlock_restore.nodes.training import train

        c = self.cfg
        tr = self.trainer(job["deg"], job["objective"], job["loss"], job["seed"])
        logged, validation = {}, {}

        def log_step(trainer):
            step = trainer.steps_done
            if step not in c["log_steps"] or step in logged:
                return
            prompt = trainer.snapshot({})
            light = step in c["light"]
            logged[step] = self.evaluate(prompt, 1.0, job["deg"], 1 if light else c["draws"],
                                         1 if light else c["sampler_seeds"], whole=step == c["steps"])
            validation[step] = self.validation(prompt, job["deg"])
            # Scoring loaded another clone of the same model, which took the trainer's patches off it: put the
            # trainer's model back before the next step (the host re-applies its object patches).
            comfy.model_management.load_models_gpu([trainer.patched])

        diverged = None
        try:
            with torch.inference_mode():
                train(tr, c["steps"], job["lr"], c["batch"], 0, None, {}, on_step=log_step)
        except FloatingPointError as e:  # the trainer's non-finite rule: the last good prompt is what a user keeps
            diverged = {"rule": "non-finite loss", "at_step": tr.steps_done + 1, "message": str(e)}
        prompt = tr.snapshot({})
        for step in c["log_steps"]:  # steps a stopped run never reached are scored with its last good prompt
            if step not in logged:
                logged[step] = self.evaluate(prompt, 1.0, job["deg"], c["draws"], c["sampler_seeds"],
                                             whole=step == c["steps"])
                validation[step] = self.validation(prompt, job["deg"])
        h = tr.history
        first, last = float(np.mean(h[:25])) if h else float("nan"), float(np.mean(h[-25:])) if h else float("nan")
        if diverged is None and last > EXPLODE * first:
            diverged = {"rule": f"loss over the last 25 steps > {EXPLODE:g} x the first 25", "at_step": None}
        return {"steps_done": tr.steps_done, "diverged": diverged, "loss_first25": first, "loss_last25": last,
                "loss_every_25": [round(float(np.mean(h[i:i + 25])), 6) for i in range(0, len(h), 25)],
                "gates_abs_mean": float(tr.gates.detach().abs().mean()),
                "prompt_rms": float(tr.prompt.detach().pow(2).mean().sqrt()),
                "validation": {str(k): v for k, v in sorted(validation.items())},
                "test": {str(k): v for k, v in sorted(logged.items())}}


def _mean_runs(runs: list[dict]) -> dict:
    """Per image, each metric averaged over the runs (degradation draws x sampler seeds)."""
    return {m: np.mean([r[m] for r in runs], axis=0).round(5).tolist() for m in runs[0]}


def _fold_whole(res: dict) -> dict:
    """{'tiles': {...}, 'whole:<photo>': {...}} -> {'tiles': {...}, 'whole': {metric: [one value per photo]}}."""
    out = {"tiles": res["tiles"]}
    whole = [k for k in res if k.startswith("whole:")]
    if whole:
        out["whole"] = {m: [res[k][m][0] for k in whole] for m in res["tiles"]}
        out["whole_photos"] = [k.split(":", 1)[1] for k in whole]
    return out


# -- the report ---------------------------------------------------------------------------------------------------
def _tile_groups(values: list[float], tile_photos: list[str]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for v, p in zip(values, tile_photos):
        groups.setdefault(p, []).append(v)
    return groups


def verdict(ci: list[float], margin: float = MARGIN_DB) -> str:
    """Read off the interval of (bridge - naive) in dB: 'confirms' when it lies above 0, 'refutes' when it lies
    below 0 or inside the equivalence margin (no advantage worth the name), else 'inconclusive'."""
    lo, hi = ci
    if lo > 0:
        return "confirms"
    if hi < 0 or (lo >= -margin and hi <= margin):
        return "refutes"
    return "inconclusive"


def report(cfg: dict, done: dict[str, dict], tile_photos: list[str], chunks: list[dict] = ()) -> dict:
    """Everything the finished jobs support, and what is still missing (no number is invented for a missing job)."""
    last, early = str(cfg["steps"]), "250" if "250" in map(str, cfg["log_steps"]) else str(cfg["log_steps"][0])
    missing = total_jobs(cfg) - len([k for k in done if not k.startswith("_")])
    out = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
           "degradations": {d: {"strength": DEGRADATIONS[d], "control": d in CONTROLS} for d in cfg["degradations"]},
           "photos": {"prompt_train": PROMPT_TRAIN, "validation": VALIDATION, "held_out": photos.HELD_OUT_V2},
           "jobs": {"done": total_jobs(cfg) - missing, "total": total_jobs(cfg),
                    "seconds": round(sum(j.get("seconds", 0) for j in done.values()), 1)},
           "chunks": chunk_rows(list(chunks), done), "margin_db": MARGIN_DB}
    clean = done.get(job_name("clean", "none"))
    cells, lr_pick, divergences, baselines, working_range = {}, {}, {}, {}, {}
    for d in cfg["degradations"]:
        base = done.get(job_name("baseline", d))
        if base:
            methods = [k for k in ("degraded", "lookup_table", "nlm") if k in base]
            baselines[d] = {which: {"unprompted": {s: _means(base["unprompted"][s][which]) for s in SAMPLERS},
                                    **{k: _means(base[k][which]) for k in methods}}
                            for which in ("tiles", "whole")}
            if "nlm_h_over_sigma" in base:
                baselines[d]["nlm_h_over_sigma"] = base["nlm_h_over_sigma"]
            if clean:
                ceiling = float(np.mean(clean["unprompted"]["bridge"]["tiles"]["psnr"]))
                deg_psnr = float(np.mean(base["degraded"]["tiles"]["psnr"]))
                working_range[d] = {"degraded_psnr": round(deg_psnr, 3), "clean_through_model_psnr": round(ceiling, 3),
                                    "in_range": deg_psnr < ceiling - RANGE_DB}
        for o in OBJECTIVES:
            for loss in LOSSES:
                arm = f"{o}/{loss}"
                lr = pick_lr(cfg, done, d, o, loss)
                sweep = {f"{x:g}": done.get(job_name("train", d, o, loss, x, cfg["seeds"][0])) for x in cfg["lrs"]}
                val = {k: None if j is None else round(float(np.mean(list(j["validation"][last].values()))), 3)
                       for k, j in sweep.items()}
                lr_pick.setdefault(arm, {})[d] = {"picked": lr, "validation_psnr": val}
                runs = [j for j in done.values() if j["job"]["kind"] == "train" and j["job"]["deg"] == d
                        and j["job"]["objective"] == o and j["job"]["loss"] == loss]
                divergences.setdefault(arm, {"runs": 0, "diverged": 0})
                divergences[arm]["runs"] += len(runs)
                divergences[arm]["diverged"] += sum(1 for j in runs if j["diverged"])
                if lr is None:
                    continue
                seeds = {s: done.get(job_name("train", d, o, loss, lr, s)) for s in cfg["seeds"]}
                for sampler in SAMPLERS:
                    cells.setdefault(f"{arm}/{sampler}", {})[d] = {
                        "lr": lr, "per_seed": {str(s): (None if j is None else
                                                        {step: _means(j["test"][step][sampler]["tiles"])
                                                         for step in j["test"]}) for s, j in seeds.items()},
                        "spread_psnr_across_seeds": _spread([j["test"][last][sampler]["tiles"]["psnr"]
                                                             for j in seeds.values() if j is not None]),
                        "spread_psnr_across_lrs": _spread([j["test"][last][sampler]["tiles"]["psnr"]
                                                           for j in sweep.values() if j is not None])}
    for d in DROPPED:
        job = done.get(job_name("range", d))
        if job and clean:
            ceiling = float(np.mean(clean["unprompted"]["bridge"]["tiles"]["psnr"]))
            deg_psnr = float(np.mean(job["degraded"]["tiles"]["psnr"]))
            working_range[d] = {"degraded_psnr": round(deg_psnr, 3), "clean_through_model_psnr": round(ceiling, 3),
                                "in_range": deg_psnr < ceiling - RANGE_DB, "dropped": True,
                                "strength": job["strength"]}
    out.update({"clean_through_model": None if clean is None else {s: _means(clean["unprompted"][s]["tiles"])
                                                                   for s in SAMPLERS},
                "working_range": working_range, "baselines": baselines, "lr_pick": lr_pick, "cells": cells,
                "divergences": divergences})
    in_range = [d for d in cfg["degradations"] if d not in CONTROLS]
    out["choices"] = choices = _choices(cfg, done, in_range)
    out["primary"] = _contrast(cfg, done, in_range, choices, last, tile_photos) if choices else None
    out["secondary_early"] = _contrast(cfg, done, in_range, choices, early, tile_photos) if choices else None
    out["primary_whole_photos"] = (_contrast(cfg, done, in_range, choices, last, None, "whole") if choices else None)
    out["verdict"] = (verdict(out["primary"]["ci"]) if out["primary"] and out["primary"]["complete"]
                      else f"pending: {missing} of {total_jobs(cfg)} jobs still to run")
    return out


def _means(m: dict) -> dict:
    return {k: round(float(np.mean(v)), 4) for k, v in m.items()}


def _spread(per_run: list[list[float]]) -> dict | None:
    if len(per_run) < 2:
        return None
    means = [float(np.mean(v)) for v in per_run]
    return {"runs": len(means), "min": round(min(means), 3), "max": round(max(means), 3),
            "std": round(float(np.std(means, ddof=1)), 3)}


def _choices(cfg, done, degs) -> dict | None:
    """Each objective's better weighting, and naive's better sampler, by validation PSNR at the last step (seed 0,
    picked learning rates, mean over the in-range degradations). None until those runs exist."""
    last, s0 = str(cfg["steps"]), cfg["seeds"][0]
    val = {}
    for o in OBJECTIVES:
        for loss in LOSSES:
            for sampler in SAMPLERS:
                vals = []
                for d in degs:
                    lr = pick_lr(cfg, done, d, o, loss)
                    if lr is None:
                        return None
                    vals.append(done[job_name("train", d, o, loss, lr, s0)]["validation"][last][sampler])
                val[(o, loss, sampler)] = float(np.mean(vals))
    bridge_loss = max(LOSSES, key=lambda w: val[("bridge", w, "bridge")])
    naive = max(((w, s) for w in LOSSES for s in SAMPLERS), key=lambda ws: val[("naive", *ws)])
    return {"bridge": {"loss": bridge_loss, "sampler": "bridge"}, "naive": {"loss": naive[0], "sampler": naive[1]},
            "validation_psnr": {"/".join(k): round(v, 3) for k, v in val.items()}}


def _contrast(cfg, done, degs, choices, step, tile_photos, which="tiles") -> dict | None:
    """Per tile (or whole photo): bridge arm minus naive arm, mean over degradations and the seeds both arms have."""
    arms = {a: choices[a] for a in ("bridge", "naive")}
    diffs, per_seed, used = [], {}, 0
    for d in degs:
        rows = {}
        for a, ch in arms.items():
            lr = pick_lr(cfg, done, d, a, ch["loss"])
            rows[a] = {s: done.get(job_name("train", d, a, ch["loss"], lr, s)) for s in cfg["seeds"]}
        for s in cfg["seeds"]:
            b, n = rows["bridge"][s], rows["naive"][s]
            if b is None or n is None or step not in b["test"] or which not in b["test"][step]["bridge"]:
                continue  # a step not logged, or a set not scored at it (whole photos: the last step only)
            diff = (np.array(b["test"][step][arms["bridge"]["sampler"]][which]["psnr"])
                    - np.array(n["test"][step][arms["naive"]["sampler"]][which]["psnr"]))
            diffs.append(diff)
            per_seed.setdefault(str(s), []).append(float(diff.mean()))
            used += 1
    if not diffs:
        return None
    per_unit = np.mean(diffs, axis=0)  # each tile's difference, averaged over degradations and seeds
    if which == "tiles":
        groups = _tile_groups(per_unit.tolist(), tile_photos)
    else:
        groups = {str(i): [float(v)] for i, v in enumerate(per_unit)}
    boot = hierarchical_bootstrap(groups)
    complete = used == len(degs) * len(cfg["seeds"])
    return {"step": int(step), "set": which, "mean_db": round(boot["mean"], 3),
            "ci": [round(x, 3) for x in boot["ci"]], "runs_used": used, "complete": complete,
            "per_seed_mean_db": {s: round(float(np.mean(v)), 3) for s, v in per_seed.items()},
            "bridge_arm": arms["bridge"], "naive_arm": arms["naive"]}


def render(f: dict) -> list[str]:
    """The factorial's section of docs/reproduction.md, read off the report (no editorial numbers)."""
    jobs = f["jobs"]
    lines = ["", "## The factorial (issue 15): bridge vs naive on the version 2 prior", "",
             f"Generated from `{REPORT_JSON}` (key `factorial`) by `python benchmarks/factorial.py --report-only`; "
             f"jobs done: {jobs['done']} of {jobs['total']} ({jobs['seconds']:.0f} s of compute so far).", "",
             f"**Verdict: {f['verdict']}.**", ""]
    for key, title in (("primary", "Primary contrast, last step"), ("secondary_early", "Same at 250 steps"),
                       ("primary_whole_photos", "Whole photos (coarser scale), last step")):
        c = f.get(key)
        if c:
            lines.append(f"- {title}: (bridge, {c['bridge_arm']['loss']}, {c['bridge_arm']['sampler']} sampler) - "
                         f"(naive, {c['naive_arm']['loss']}, {c['naive_arm']['sampler']} sampler) = "
                         f"{c['mean_db']:+.2f} dB, 95% CI [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}] over "
                         f"{c['runs_used']} paired runs{'' if c['complete'] else ' (incomplete)'}.")
    if f["working_range"]:
        lines += ["", "| degradation | degraded input PSNR | clean photo through the model | in range |",
                  "|---|---|---|---|"]
        lines += [f"| {d}{' (strongest, dropped)' if w.get('dropped') else ''} | {w['degraded_psnr']:.2f} | "
                  f"{w['clean_through_model_psnr']:.2f} | {'yes' if w['in_range'] else 'no'} |"
                  for d, w in f["working_range"].items()]
    if f["baselines"]:
        lines += ["", "Baselines on the held-out tiles, PSNR / SSIM / GMSD (lower GMSD is better):", "",
                  "| degradation | degraded | unprompted, bridge | unprompted, Euler | lookup table "
                  "| non-local means |", "|---|---|---|---|---|---|"]
        for d, b in f["baselines"].items():
            t = b["tiles"]
            cols = [t["degraded"], t["unprompted"]["bridge"], t["unprompted"]["euler"], t["lookup_table"], t.get("nlm")]
            lines.append(f"| {d} | " + " | ".join("-" if c is None else
                                                  f"{c['psnr']:.2f} / {c['ssim']:.3f} / {c['gmsd']:.3f}"
                                                  for c in cols) + " |")
    if f["cells"]:
        lines += ["", "Held-out tiles, PSNR at the last step (mean over the seeds run so far, picked learning rate):",
                  "", "| arm / sampler | " + " | ".join(f["degradations"]) + " |",
                  "|---|" + "---|" * len(f["degradations"])]
        last = str(f["settings"]["steps"])
        for cell, per_deg in f["cells"].items():
            row = []
            for d in f["degradations"]:
                vals = [v[last]["psnr"] for v in per_deg.get(d, {}).get("per_seed", {}).values()
                        if v is not None and last in v]
                row.append(f"{np.mean(vals):.2f} (n={len(vals)})" if vals else "-")
            lines.append(f"| {cell} | " + " | ".join(row) + " |")
    lines += ["", "Divergences: " + ", ".join(f"{a} {v['diverged']}/{v['runs']}" for a, v in f["divergences"].items()),
              ""]
    if f.get("chunks"):
        lines += ["Run time per chunk (one run of the script; wall time includes starting the host and loading the "
                  "model):", "", "| when (UTC) | host | threads | jobs | compute (s) | wall (min) | recorded by |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {c['started']} | {c['host']} | {c['threads']} | {c['jobs']} | {c['job_seconds']:.0f} | "
                  f"{'-' if c['wall_minutes'] is None else format(c['wall_minutes'], '.1f')} | {c['source']} |"
                  for c in f["chunks"]]
        lines.append("")
    return lines


# -- command line -------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui")
    ap.add_argument("--quick", action="store_true", help="a tiny untrained model and a tiny plan (tests)")
    ap.add_argument("--out-dir", help="where the job files and the report go (default: the repo)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-minutes", type=float, default=60.0,
                    help="start no job that the mean job time so far says would end past this budget")
    ap.add_argument("--max-jobs", type=int, default=0, help="stop after this many jobs (0: no limit)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out_dir) if args.out_dir else (Path(tempfile.mkdtemp()) if args.quick else REPO)
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    done = load_done(out)
    if not args.report_only:
        wall_start = time.perf_counter()  # the chunk's wall time includes starting the host and loading the model
        comfyui = small.find_comfyui(args.comfyui)
        small.start_host(comfyui)
        patcher = small.build(QUICK_CONFIG) if args.quick else small.load_checkpoint(CHECKPOINT)[0]
        exp = Factorial(patcher, cfg)
        chunk = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": small.host_version(comfyui),
                 "threads": args.threads, "budget_minutes": args.budget_minutes, "jobs": [], "wall_s": None}
        chunk_path = out / CHUNKS_DIR / f"{chunk['started'].replace(':', '')}.json"
        started, ran = time.perf_counter(), 0
        while True:
            todo = plan(cfg, done)
            if not todo or (args.max_jobs and ran >= args.max_jobs):
                break
            elapsed = time.perf_counter() - started
            if ran and elapsed + elapsed / ran > args.budget_minutes * 60:
                print(f"budget: {elapsed / 60:.1f} min used, the next job would pass {args.budget_minutes} min")
                break
            job = todo[0]
            result = {**exp.run(job), "host": small.host_version(comfyui), "threads": args.threads}
            write_atomic(out / JOBS_DIR / f"{job['name']}.json", json.dumps(result) + "\n")
            done[job["name"]] = result
            ran += 1
            chunk["jobs"].append(job["name"])
            chunk["wall_s"] = round(time.perf_counter() - wall_start, 1)
            write_atomic(chunk_path, json.dumps(chunk, indent=1) + "\n")
            print(f"[{len(done)}/{total_jobs(cfg)}] {job['name']}: {result['seconds']} s", flush=True)
        tile_photos = exp.tile_photos
    else:
        from prior_gate import held_out_tiles  # positions only: the photos are read, nothing is run

        tile_photos = [n for n, t in held_out_tiles(cfg["tiles_per_photo"], cfg["crop"]).items()
                       for _ in range(t.shape[0])]
    write_report(out, cfg, done, tile_photos, quick=args.quick)
    return 0


def write_report(out: Path, cfg: dict, done: dict, tile_photos: list[str], quick: bool) -> dict:
    import reproduce

    rep = report(cfg, done, tile_photos, load_chunks(out))
    rep["command"] = "python benchmarks/factorial.py" + (" --quick" if quick else "")
    gate = PRIOR_GATE if PRIOR_GATE.exists() else None
    if gate is not None:
        g = json.loads(gate.read_text())
        rep["prior_gate"] = {"file": str(gate.relative_to(REPO)), "passed": g["gate"]["passed"],
                             "margin_db": {t: g["per_t"][t]["margin_db"] for t in map(lambda x: f"{x:g}",
                                                                                      g["gate"]["at_t"])}}
    path = out / REPORT_JSON
    full = json.loads(path.read_text()) if path.exists() else {}
    full["factorial"] = rep
    write_atomic(path, json.dumps(full, indent=1))
    if "degradations" in full and "summary" in full:  # the committed reproduction: regenerate its document
        write_atomic(out / reproduce.MD_PATH, reproduce.render_markdown(full))
    print(f"factorial: {rep['jobs']['done']}/{rep['jobs']['total']} jobs; verdict: {rep['verdict']}")
    return rep


if __name__ == "__main__":
    sys.exit(main())
