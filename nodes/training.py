"""Prompt training inside the host: only P and the gates (or the context residual) learn; the model is frozen.

Host pitfalls handled here (comfyui-host.md, "Training inside the host"):
- nodes run under torch.inference_mode(): training leaves it, and weights loaded as inference tensors are
  replaced by ordinary clones (values unchanged), one tensor at a time;
- FLUX blocks update txt / x in place, which breaks plain autograd and makes non-reentrant checkpointing
  silently wrong: a saved-tensors hook clones saved activations, and the optional gradient checkpointing is
  re-entrant, on cloned block inputs, with P and the gates passed in so gradients reach them.
"""
from __future__ import annotations

import contextlib
import logging
import time

import torch
import torch.utils.checkpoint

import comfy.model_management as mm
import comfy.utils

from ..bridge import LOSSES, OBJECTIVES, bridge_loss, expert_times, sample_times
from ..prompt_embeds import RestorationPrompt, save_prompt
from ..prompt_embeds.prompt import PACK_VERSION
from .conditioning import clip_null_context, encoded_null_context
from .injection import PromptState, install_prompt, mixin_copy
from .model_info import check_prompt_fits, model_info, unsupported_message
from .time_index import install_time_index

log = logging.getLogger("unlock_restore")


@contextlib.contextmanager
def host_training_mode():
    """Tell the host that autograd runs through the model, for as long as the block lasts.

    ComfyUI >= 0.8 routes rope (and, in late-2026 releases, adaln and fused/int8 linears) to comfy-kitchen kernels
    that have no backward unless `comfy.model_management.in_training` is set (core's TrainLoraNode sets it in
    try/finally). Older hosts have no such flag and need nothing. The previous value is restored, so nesting and
    an exception (an interrupt included) leave the host as it was."""
    if not hasattr(mm, "in_training"):
        yield
        return
    saved = mm.in_training
    mm.in_training = True
    try:
        yield
    finally:
        mm.in_training = saved


def _clone_saved(t: torch.Tensor) -> torch.Tensor:
    return t.clone() if t.requires_grad and not t.is_leaf else t


@contextlib.contextmanager
def exact_inplace_autograd():
    """Saved activations are private copies, so later in-place updates in the host's blocks cannot corrupt them."""
    with torch.autograd.graph.saved_tensors_hooks(_clone_saved, lambda t: t):
        yield


def materialize_weights(module: torch.nn.Module) -> int:
    """Replace inference tensors (parameters and buffers) by ordinary frozen clones, one at a time; returns the
    count. Values are bit-identical; only autograd can now save them.

    The module is the user's loaded model, shared with every node that uses that MODEL (a clone of a ModelPatcher
    shares its weights), so this is deliberately not undone after training: restoring the inference tensors
    would hold a second copy of every weight. It changes no result; the Train node's description says so."""
    count = 0
    with torch.inference_mode(False), torch.no_grad():
        for m in module.modules():
            for name, p in list(m._parameters.items()):
                if p is None:
                    continue
                if p.is_inference():
                    m._parameters[name] = torch.nn.Parameter(p.clone(), requires_grad=False)
                    count += 1
                else:
                    p.requires_grad_(False)
            for name, b in list(m._buffers.items()):
                if b is not None and b.is_inference():
                    m._buffers[name] = b.clone()
                    count += 1
    return count


def training_clone(model):
    """The patcher a training run works on. Under dynamic VRAM (ComfyUI >= 0.20, default on NVIDIA) the weights stay
    on the CPU and are cast per forward through virtual buffers; training replaces inference-tensor parameters by
    ordinary ones and backpropagates through them, so it takes the host's non-dynamic delegate
    (`clone(disable_dynamic=True)`, what core does for torch.compile and hooks). Elsewhere (older hosts, CPU, or
    --disable-dynamic-vram) a plain clone. Not reached on CPU (the host never makes a dynamic patcher there)."""
    is_dynamic = getattr(model, "is_dynamic", None)
    if callable(is_dynamic) and is_dynamic():
        return model.clone(disable_dynamic=True)
    return model.clone()


def _checkpointed(fn, tensors: list[torch.Tensor], trainables: list[torch.Tensor]):
    """fn(*tensors) as a re-entrant gradient checkpoint, exact with the host blocks' in-place updates: fn gets
    clones (in-place updates must not alter what checkpoint keeps for recompute), and runs, forward and the
    recompute inside backward (wherever that is called), with private saved activations and the host's training
    kernels. The trainables ride along as inputs, so their gradients flow through the recompute."""
    def run(*inputs):
        clones = [t.clone() for t in inputs[:len(tensors)]]
        with exact_inplace_autograd(), host_training_mode():
            return fn(*clones)
    return torch.utils.checkpoint.checkpoint(run, *tensors, *trainables, use_reentrant=True)


def _own_options(d: dict) -> dict:
    """`d` with its own copy of transformer_options: frozen now, replayed in backward, while newer hosts rewrite one
    dict per block (block_index, block_type, img_slice), so the recompute sees what this block saw."""
    if isinstance(d.get("transformer_options"), dict):
        return {**d, "transformer_options": dict(d["transformer_options"])}
    return d


def _block_replacements(family, dm, trainables: list[torch.Tensor]) -> dict:
    """Re-entrant gradient checkpointing per transformer block (exact with FLUX's in-place updates), for the
    blocks of `family` (which also knows how to call one).

    The block is taken from the model by index, not from the host's `original_block` closure, because
    recomputation happens during backward, after the host's loop variable has moved on."""
    modules = family.block_modules(dm)

    def make(kind: str, index: int, block):
        def replace(args, extra):
            args = _own_options(args)
            kwargs = family.block_kwargs(extra.get("original_block"))
            keys = _tensor_keys(args)
            outs = _checkpointed(lambda *t: family.run_block(kind, block, {**args, **dict(zip(keys, t))}, kwargs),
                                 [args[k] for k in keys], trainables)
            return {"img": outs[0], "txt": outs[1]} if len(outs) == 2 else {"img": outs[0]}
        return replace

    return {(kind, i): make(kind, i, block)
            for key, kind in zip(family.spec.block_keys, family.replace_kinds)
            for i, block in enumerate(modules[key])}


class _CheckpointedBlock:
    """A block whose forward runs as a re-entrant checkpoint (for hosts whose block loop has no patches_replace
    entry, Family.checkpoint_keys): `_checkpointed`, as `_block_replacements` uses it, through the block's own
    call."""

    def forward(self, *args, **kwargs):
        kwargs = _own_options(kwargs)
        where = [("a", i) for i, v in enumerate(args) if isinstance(v, torch.Tensor)]
        where += [("k", k) for k, v in sorted(kwargs.items()) if isinstance(v, torch.Tensor)]
        run = super().forward

        def call(*tensors):
            a, kw = list(args), dict(kwargs)
            for (kind, key), t in zip(where, tensors):
                (a if kind == "a" else kw)[key] = t
            return run(*a, **kw)

        tensors = [args[key] if kind == "a" else kwargs[key] for kind, key in where]
        return _checkpointed(call, tensors, self._unlock_trainables)


def _checkpoint_patches(family, patcher, blocks: dict, trainables: list[torch.Tensor]) -> dict:
    """{object-patch key: the block as a `_CheckpointedBlock`} for `family.checkpoint_keys`."""
    return {key: mixin_copy(patcher.get_model_object(key), _CheckpointedBlock, _unlock_trainables=trainables)
            for key in family.checkpoint_keys(blocks)}


def _tensor_keys(args: dict) -> list[str]:
    return sorted(k for k, v in args.items() if isinstance(v, torch.Tensor))


class PromptTrainer:
    """Everything one training run needs, prepared once: the patched model, latents, conditioning."""

    def __init__(self, model, vae, clean: torch.Tensor, degraded: torch.Tensor, *, mode: str, objective: str,
                 t0: float, seed: int, node: str, init: RestorationPrompt | None = None, tokens: int = 0,
                 conditioning=None, resolution: int = 0, t_min: float = 1e-4, t_power: float = 1.0,
                 gradient_checkpointing: bool = False, degradation: str = "", clip=None,
                 time_index: str | None = None, loss: str = "x0", expert: str = "all",
                 expert_boundary: float = 0.875):
        self.node, self.mode, self.objective, self.loss_weighting = node, mode, objective, loss
        self.expert, self.expert_boundary = expert, float(expert_boundary)
        self.t0, self.t_min, self.t_power, self.seed = float(t0), float(t_min), float(t_power), int(seed)
        self.degradation = degradation
        if objective not in OBJECTIVES:
            raise ValueError(f"{node}: objective must be one of {OBJECTIVES}, got {objective!r}.")
        if loss not in LOSSES:
            raise ValueError(f"{node}: loss must be one of {LOSSES}, got {loss!r}.")
        _check_pairs(node, clean, degraded)
        info = model_info(model)
        if info.arch is None:
            raise ValueError(unsupported_message(node, info, "Restoration prompts are trained"))
        self.info = info
        self.t_range = self._time_range(init)
        self.device = mm.get_torch_device()
        self.steps_done = 0
        self.history: list[float] = []

        if init is not None:
            check_prompt_fits(node, init, info, what="restoration prompt to resume from")
            if init.mode != mode:
                raise ValueError(f"{node}: the prompt to resume from is a {init.mode}-mode prompt but mode is {mode}. "
                                 f"Set mode to {init.mode}, or start a new prompt (disconnect it).")
            self.steps_done = int(init.provenance.get("training", {}).get("steps_done", 0))
        k = init.tokens if init is not None else (tokens or info.family.spec.tokens)
        if info.family.spec.pad_left and k != info.family.spec.tokens:
            raise ValueError(f"{node}: {info.label} always reads exactly {info.family.spec.tokens} text tokens (the "
                             f"model pads shorter text to that), so a prompt for it has K = "
                             f"{info.family.spec.tokens}, not {k}. Set tokens to 0 (the default).")
        self.null_context, self.pooled, self.null_source = self._null_context(init, conditioning, k, clip)
        # The network is timed as it will be when restoring: a resumed prompt keeps its own convention; a new one
        # takes the official code's (bridge/time_index.py) where the family has official prompts, else the
        # continuous t. `time_index` is for benchmarks that need the other.
        default = "official" if info.family.spec.time_grid else "continuous"
        self.time_index = time_index or (init.time_convention if init is not None else default)
        if init is not None and self.time_index != init.time_convention:
            raise ValueError(f"{node}: the prompt to resume from was trained with the {init.time_convention} time "
                             f"index, not {self.time_index}; a run continues with the convention it started with.")

        with torch.inference_mode(False):
            g = torch.Generator().manual_seed(self.seed)
            width = info.text_width if mode == "context" else info.width
            if init is not None:
                p0 = init.prompt.detach().float().clone()
                g0 = init.gates.detach().float().clone() if init.gates is not None else None
            else:
                p0 = 0.02 * torch.randn(k, width, generator=g)  # the official init: P ~ N(0, 0.02^2), gates 0
                g0 = torch.zeros(sum(info.blocks.values())) if mode == "gated" else None
            self.prompt = p0.to(self.device).requires_grad_(True)
            self.gates = g0.to(self.device).requires_grad_(True) if g0 is not None else None
            self.trainables = [t for t in (self.prompt, self.gates) if t is not None]

        self.patched = training_clone(model)
        if mode == "gated":
            install_prompt(self.patched, PromptState([(self.prompt, self.gates)], 1.0, node), info.family,
                           info.blocks)
        install_time_index(self.patched, info.arch, [self.time_index])
        if gradient_checkpointing:
            dm = self.patched.get_model_object("diffusion_model")
            for (kind, i), fn in _block_replacements(info.family, dm, self.trainables).items():
                self.patched.set_model_patch_replace(fn, "dit", kind, i)
            for key, module in _checkpoint_patches(info.family, self.patched, info.blocks, self.trainables).items():
                self.patched.add_object_patch(key, module)

        mm.load_models_gpu([self.patched])
        self.base = self.patched.model
        materialize_weights(self.base)
        self.transformer_options = dict(self.patched.model_options.get("transformer_options", {}))
        self.transformer_options["wrappers"] = self.patched.wrappers
        smallest = 2 * int(vae.spacial_compression_encode())  # one latent patch (patch size 2)
        if min(clean.shape[1], clean.shape[2]) < smallest:
            raise ValueError(f"{node}: the training images are {clean.shape[2]}x{clean.shape[1]} px, too small for "
                             f"this model and VAE (at least {smallest}x{smallest}). Use larger images (Load Image "
                             "Folder's width and height set the size of the batch).")
        self.clean, self.degraded = self._encode(vae, clean), self._encode(vae, degraded)
        self.crop = self._latent_crop(vae, resolution)

    # -- preparation ---------------------------------------------------------------------------------------
    def _time_range(self, init) -> tuple[float, float]:
        """The training times (lowest, highest): the whole bridge, or one expert's part of it."""
        if self.expert != "all" and self.info.family.spec.expert_boundary is None:
            raise ValueError(f"{self.node}: expert is {self.expert}, but {self.info.label} ships one model, not a "
                             "high-noise and a low-noise expert. Set expert to all.")
        if init is not None and init.expert != self.expert:
            raise ValueError(f"{self.node}: the prompt to resume from was trained for expert {init.expert}, not "
                             f"{self.expert}. Set expert to {init.expert}, or start a new prompt.")
        try:
            return expert_times(self.expert, self.t0, self.expert_boundary, self.t_min)
        except ValueError as e:
            raise ValueError(f"{self.node}: {e}.") from None

    def _null_context(self, init, conditioning, k, clip=None):
        if clip is not None:
            ctx, pooled = clip_null_context(self.node, clip, k, self.info.arch, self.info.text_width)
            source = "empty text encoded from the connected CLIP"
        elif conditioning is not None:
            ctx, pooled = encoded_null_context(self.node, conditioning, k, self.info.arch, self.info.text_width)
            source = "connected text encoding"
        elif init is not None and init.null_context is not None:
            ctx, pooled, source = init.null_context.float(), init.pooled, "resumed prompt"
        else:
            log.warning("unlock-restore: %s has no empty-text encoding connected; training against a zero null "
                        "context. For real models connect the empty text encoded by the model's text encoder.",
                        self.node)
            ctx, pooled, source = (torch.zeros(k, self.info.text_width), None,
                                   "zeros (no text encoding connected)")
        pooled_width = self.info.family.spec.pooled_width
        if pooled_width is not None and pooled is None:
            pooled = torch.zeros(pooled_width)
        with torch.inference_mode(False):
            return ctx.clone(), (pooled.clone() if pooled is not None else None), source

    def _encode(self, vae, images: torch.Tensor) -> torch.Tensor:
        pixels = images[..., :3]
        # One image at a time: the Wan VAE reads a batch as the frames of one video. No graph: data, not weights.
        with torch.no_grad():
            latents = [vae.encode(pixels[i:i + 1]) for i in range(pixels.shape[0])]
        with torch.inference_mode(False), torch.no_grad():
            lat = torch.cat([l.clone() for l in latents]).to(self.device).float()
            return self.base.process_latent_in(lat).clone()

    def _latent_crop(self, vae, resolution: int) -> int | None:
        if not resolution:
            return None
        down = vae.spacial_compression_encode()
        size = max(2, (int(resolution) // down) // 2 * 2)  # whole patches (patch size 2)
        h, w = self.clean.shape[-2:]
        if size > min(h, w):
            raise ValueError(f"{self.node}: resolution {resolution} is larger than the training images "
                             f"({w * down}x{h * down} px). Lower it, or set 0 to train on whole images.")
        return size

    # -- training ------------------------------------------------------------------------------------------
    def batch(self, size: int, gen: torch.Generator):
        n = self.clean.shape[0]
        idx = torch.randint(0, n, (size,), generator=gen) if size != n else torch.randperm(n, generator=gen)
        x0, y = self.clean[idx], self.degraded[idx]
        if self.crop:
            h, w = x0.shape[-2:]
            tops = torch.randint(0, (h - self.crop) // 2 + 1, (size,), generator=gen) * 2
            lefts = torch.randint(0, (w - self.crop) // 2 + 1, (size,), generator=gen) * 2
            x0 = torch.stack([a[..., t:t + self.crop, l:l + self.crop] for a, t, l in zip(x0, tops, lefts)])
            y = torch.stack([a[..., t:t + self.crop, l:l + self.crop] for a, t, l in zip(y, tops, lefts)])
        low, high = self.t_range  # the bridge's T0 stays self.t0: an expert trains on its part of the same bridge
        t = sample_times(size, high, low, self.t_power, gen).to(self.device)
        noise = torch.randn(x0.shape, generator=gen).to(self.device)
        return x0, y, t, noise

    def loss(self, x0, y, t, noise) -> torch.Tensor:
        """bridge.bridge_loss (the tested objective) with the host model as the denoiser x0_hat(X_t, t)."""
        ctx = self.null_context.to(self.device).unsqueeze(0)
        if self.mode == "context":
            ctx = ctx + self.prompt.unsqueeze(0)
        ctx = ctx.expand(x0.shape[0], -1, -1)
        extra = self.info.family.model_extras(self.pooled, x0.shape[0], self.device)

        def x0_hat(x_t, t_):
            conds = self.base.extra_conds(noise=x_t, device=self.device, cross_attn=ctx, **extra)
            # To the batch size, as the host's sampling does (a scalar guidance is one row; Chroma concatenates it).
            conds = {k: v.process_cond(batch_size=x_t.shape[0], area=None, device=self.device).cond
                     for k, v in conds.items()}
            # As the host's sampler sets them (comfy/samplers.py): this evaluation's sigmas and the schedule it is a
            # step of, here one step from t to 0, as x0_hat is the one-step estimate. Mean-flow models (HunyuanVideo
            # 1.5's step-distilled ones) read both to time their second embedding (r = 0: the jump to x0).
            options = {**self.transformer_options, "sigmas": t_, "sample_sigmas": torch.stack([t_[0], t_[0] * 0])}
            with exact_inplace_autograd(), host_training_mode():
                pred = self.base.apply_model(x_t, t_, transformer_options=options, **conds)
            return pred.float()

        return bridge_loss(x0_hat, x0.float(), y.float(), self.t0, objective=self.objective, t=t, noise=noise,
                           loss=self.loss_weighting)

    def held_loss(self, batch_size: int) -> float:
        """The loss on a fixed held batch (fixed images, crops, times and noise): comparable across steps."""
        with torch.inference_mode(False), torch.no_grad():
            gen = torch.Generator().manual_seed(self.seed + 1_000_003)
            return float(self.loss(*self.batch(min(batch_size, self.clean.shape[0]), gen)))

    def snapshot(self, settings: dict) -> RestorationPrompt:
        with torch.inference_mode(False):
            p = RestorationPrompt(
                prompt=self.prompt.detach().float().cpu().clone(),
                gates=self.gates.detach().float().cpu().clone() if self.gates is not None else None,
                mode=self.mode, arch=self.info.arch, blocks=dict(self.info.blocks),
                null_context=self.null_context.detach().cpu().clone(),
                pooled=self.pooled.detach().cpu().clone() if self.pooled is not None else None,
                guidance=self.info.family.spec.guidance, t0=self.t0, time_index=self.time_index,
                provenance={"degradations": [d.strip() for d in self.degradation.split(",") if d.strip()],
                            "base_model": self.info.describe(), "source": "trained", "pack_version": PACK_VERSION,
                            "training": {**settings, "steps_done": self.steps_done, "objective": self.objective,
                                         "loss": self.loss_weighting, "expert": self.expert,
                                         **({"expert_boundary": self.expert_boundary} if self.expert != "all"
                                            else {}),
                                         "null_context": self.null_source}})
        return p.validate(name=f"{self.node} step {self.steps_done}")


def _check_pairs(node: str, clean: torch.Tensor, degraded: torch.Tensor) -> None:
    if clean.shape[0] == 0 or degraded.shape[0] == 0:
        raise ValueError(f"{node}: an image batch is empty. Connect the clean and degraded images (e.g. Load Image "
                         "Pairs, or an image and Degrade Image).")
    if clean.shape != degraded.shape:
        raise ValueError(f"{node}: the clean images {tuple(clean.shape)} and degraded images "
                         f"{tuple(degraded.shape)} differ in shape; they must be pairs of the same size. Use Load "
                         "Image Pairs, or make the degraded batch from the clean one with Degrade Image.")
    for name, t in (("clean", clean), ("degraded", degraded)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{node}: the {name} images contain NaN or infinite values. Check the node that "
                             "produced them.")


def train(trainer: PromptTrainer, steps: int, lr: float, batch_size: int, checkpoint_every: int,
          save_path: str | None, settings: dict, on_step=None):
    """Run `steps` optimisation steps. Checkpoints are written atomically every `checkpoint_every` steps, on
    interrupt and at the end; a NaN/inf loss stops with a clear error and keeps the last good prompt.
    `on_step(trainer)`, if given, runs after each completed step (benchmarks score the prompt at chosen steps
    without restarting the optimiser)."""
    node = trainer.node
    pbar = comfy.utils.ProgressBar(steps)
    gen = torch.Generator().manual_seed(trainer.seed + trainer.steps_done)
    batch_size = max(1, int(batch_size))
    held_before = trainer.held_loss(batch_size)

    def save():
        if save_path:
            save_prompt(trainer.snapshot(settings), save_path)

    with torch.inference_mode(False), host_training_mode():
        opt = torch.optim.AdamW(trainer.trainables, lr=lr, weight_decay=0.0)
        started = time.perf_counter()
        try:
            for i in range(steps):
                x0, y, t, noise = trainer.batch(batch_size, gen)
                with torch.enable_grad():
                    loss = trainer.loss(x0, y, t, noise)
                    if not torch.isfinite(loss):
                        save()  # the parameters are still those of the last good step
                        raise FloatingPointError(
                            f"{node}: the loss became {float(loss.detach())} at step {trainer.steps_done + 1}, so training "
                            f"stopped. The last good prompt (step {trainer.steps_done}) is kept"
                            f"{' in ' + save_path if save_path else ''}. Lower the learning rate (now {lr}) and "
                            "resume from it.")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                opt.step()
                trainer.steps_done += 1
                value = float(loss.detach())
                trainer.history.append(value)
                if checkpoint_every and trainer.steps_done % checkpoint_every == 0:
                    save()
                if on_step is not None:
                    on_step(trainer)
                if (i + 1) % max(1, steps // 10) == 0 or i == 0:
                    log.info("unlock-restore: %s step %d (%d/%d) loss %.6f (%.2f s/step)", node, trainer.steps_done,
                             i + 1, steps, value, (time.perf_counter() - started) / (i + 1))
                pbar.update(1)  # also raises on POST /interrupt
        except mm.InterruptProcessingException:
            save()  # nothing learned is lost: the checkpoint holds every completed step
            raise
    save()
    held_after = trainer.held_loss(batch_size)
    return trainer.snapshot(settings), held_before, held_after


def loss_graph(history: list[float], width: int = 640, height: int = 320) -> torch.Tensor:
    """The loss curve as an IMAGE (1, H, W, 3), with min/max labels."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    m = 40
    draw.line([(m, 10), (m, height - m), (width - 10, height - m)], fill="black", width=1)
    if history:
        lo, hi = min(history), max(history)
        span = (hi - lo) or 1.0
        n = max(len(history) - 1, 1)
        pts = [(m + (width - m - 10) * i / n, (height - m) - (height - m - 10) * (v - lo) / span)
               for i, v in enumerate(history)]
        if len(pts) > 1:
            draw.line(pts, fill=(30, 90, 200), width=2)
        draw.text((2, 10), f"{hi:.4g}", fill="black")
        draw.text((2, height - m - 10), f"{lo:.4g}", fill="black")
        draw.text((width // 2 - 40, height - m + 10), f"{len(history)} steps", fill="black")
    arr = torch.from_numpy(np.asarray(img).astype("float32") / 255.0)
    return arr.unsqueeze(0)


__all__ = ["PromptTrainer", "train", "loss_graph", "materialize_weights", "exact_inplace_autograd",
           "host_training_mode"]
