"""Restoring an image batch or a video with a prompt, the one-box path: MODEL + VAE + RESTORATION_PROMPT + IMAGE
in, restored IMAGE out. The engine behind Restore (Bridge) and Train's validation.

Internally it is the wired graph Apply Restoration Prompt -> (RandomNoise, BasicGuider, Bridge Sampler, Bridge
Schedule) -> SamplerCustomAdvanced, around a VAE encode of the degraded input (the bridge's Y) and a VAE decode
(for one image whose size fits the model, bit for bit the same result; tests/test_restore.py checks it), plus what
users' inputs need: padding to the model's size multiple (cropped back after decoding, so any
size or aspect ratio works without distortion), alpha / gray channels, batches in memory-bounded chunks, tiled
VAE for large images, and for Wan videos 4k+1 frame padding and overlapping temporal windows joined by a linear
cross-fade in pixel space. The shape logic lives in the pure package imaging/ (tested exactly without a host).

The sampler is the standard SAMPLER of Bridge Sampler (`KSAMPLER(sample_unlock_bridge)`) with the SIGMAS of
Bridge Schedule, so packs that tile the diffusion itself (they take SAMPLER + SIGMAS) can reuse it directly for
images too large to sample in one piece; this path only tiles the VAE.
"""
from __future__ import annotations

import logging
import math

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..bridge import time_grid
from ..imaging import (crop_to, largest_valid_window, max_overlap, merge_channels, pad_frames, pad_to_multiple,
                       plan_windows, split_channels)
from ..imaging.temporal import blend_window
from .experts import check_expert_prompt, expert_guider
from .model_info import model_info
from .prompting import prepare
from .sampling import positive_guider, sample_unlock_bridge

NODE = "Restore (Bridge)"
log = logging.getLogger("unlock_restore")

# VAE tiles as the stock VAE Encode/Decode (Tiled) nodes use by default (pixels; frames for video VAEs).
TILE_PIXELS, TILE_OVERLAP, TILE_FRAMES, TILE_FRAME_OVERLAP = 512, 64, 64, 8
# Images are sampled in chunks of at most this many (padded) pixels per sampler call, at least one image each:
# bounds the sampler's activation memory for long batches (e.g. video frames sent to FLUX one by one).
CHUNK_PIXELS = 4 * 1024 * 1024
SEED_MOD = 2 ** 64


def _fail(problem: str, fix: str):
    return ValueError(f"{NODE}: {problem}. {fix}")


def _spatial_patch(model) -> int:
    """The transformer's spatial patch size (FLUX: 2; Wan: patch_size (1, 2, 2) -> 2)."""
    patch = getattr(model.get_model_object("diffusion_model"), "patch_size", 1) or 1
    return int(patch[-1] if isinstance(patch, (tuple, list)) else patch)


def _check_vae(model, vae, spec):
    """The VAE fits the model: video or image as the family (`spec`, an Arch) is, and its latent channels."""
    latent_format = model.get_model_object("latent_format")
    vae_video = getattr(vae, "latent_dim", 2) == 3
    if vae_video != spec.vae_is_video or getattr(vae, "latent_channels", None) != latent_format.latent_channels:
        kind = "a video VAE" if vae_video else "an image VAE"
        raise _fail(f"the connected VAE ({kind}, {getattr(vae, 'latent_channels', '?')} latent channels) does not "
                    f"match the {spec.label} model ({latent_format.latent_channels} latent channels)",
                    f"Load {spec.vae} with Load VAE")


class _Progress:
    """One progress bar (and latent preview, and cancel) over every sampler call of this node."""

    def __init__(self, model, total_steps: int):
        self.total = total_steps
        self.callback = latent_preview.prepare_callback(model, total_steps)
        self.offset = 0

    def for_call(self, steps: int):
        offset = self.offset
        self.offset += steps
        return lambda step, x0, x, _total: self.callback(offset + step, x0, x, self.total)


def restore(model, vae, restoration_prompt, image, t0, steps, seed, strength=1.0, window_frames=33,
            overlap_frames=8, tile_vae_above_mp=4.0, high_noise_model=None, high_noise_prompt=None,
            expert_boundary=0.875) -> torch.Tensor:
    """The Restore node's whole path: the restored IMAGE batch (same count, size and channels as `image`).
    With `high_noise_model` (two-expert models), `model` is the low-noise expert and the steps at sigma >=
    expert_boundary run on the high-noise one, with `high_noise_prompt` (default: restoration_prompt)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise _fail(f"expected an IMAGE batch shaped (count, height, width, channels), got {shape}",
                    "Connect an image output (Load Image, a video loader, ...)")
    if image.shape[0] == 0:
        raise _fail("the image batch is empty (0 images)", "Connect a node that outputs at least one image; "
                    "check that the loader or batch selection upstream found something")
    if not torch.isfinite(image).all():
        bad = int((~torch.isfinite(image)).sum())
        raise _fail(f"the input image contains {bad} NaN or infinite value(s)",
                    "Check the node that produced it (a decoder or an image operation upstream went wrong)")
    if image.shape[-1] not in (1, 2, 3, 4):
        raise _fail(f"the image has {image.shape[-1]} channels; gray (1), gray + alpha (2), RGB (3) and RGBA "
                    "(4) are supported", "Convert it to RGB first")

    if high_noise_prompt is not None and high_noise_model is None:
        raise _fail("high_noise_prompt is connected but high_noise_model is not",
                    "Connect the high-noise expert to high_noise_model, or disconnect high_noise_prompt")
    check_expert_prompt(NODE, restoration_prompt, "low_noise", "restoration_prompt")
    patched, cond = prepare(model, restoration_prompt, strength, node=NODE)  # prompt/model mismatch errors
    spec = model_info(model).family.spec
    _check_vae(model, vae, spec)

    # The VAE's downscale, or the latent format's where it is coarser (FLUX.2's TAE reports 8 but packs 2 x 2
    # patches, 16 in all), times the transformer's patch: the sizes that encode and patchify without remainder.
    latent_ratio = int(getattr(model.get_model_object("latent_format"), "spacial_downscale_ratio", 1) or 1)
    multiple = math.lcm(int(vae.spacial_compression_encode()), latent_ratio) * _spatial_patch(model)
    h, w = int(image.shape[1]), int(image.shape[2])
    if h < multiple or w < multiple:
        raise _fail(f"the image is {w}x{h} pixels, too small to restore: the smallest this model accepts is "
                    f"{multiple}x{multiple} (each side at least {multiple} pixels)",
                    "Use a larger image, or upscale it first (e.g. Upscale Image)")

    rgb, layout = split_channels(image.float())
    padded, _ = pad_to_multiple(rgb, multiple)
    tiled = padded.shape[1] * padded.shape[2] > tile_vae_above_mp * 1e6
    sigmas = time_grid(float(t0), int(steps))
    if high_noise_model is None:
        guider = positive_guider(patched, cond)
    else:
        high_prompt = restoration_prompt if high_noise_prompt is None else high_noise_prompt
        check_expert_prompt(NODE, high_prompt, "high_noise",
                            "high_noise_prompt" if high_noise_prompt is not None else "restoration_prompt")
        high_patched, high_cond = prepare(high_noise_model, high_prompt, strength, node=NODE)
        guider = expert_guider(NODE, high_patched, high_cond, patched, cond, expert_boundary)
    sampler = comfy.samplers.KSAMPLER(sample_unlock_bridge, extra_options={"node": NODE})  # errors name Restore
    # An image model with a video VAE (Qwen-Image): each image is a clip of one frame. A video model's clip is one.
    restorer = _Restorer(patched, vae, guider, sampler, sigmas, tiled,
                         frame_per_image=spec.vae_is_video and not spec.video)

    if spec.video:
        out = restorer.video(padded, seed, window_frames, overlap_frames)
    else:
        out = restorer.images(padded, seed)
    out = crop_to(out, h, w)
    out = merge_channels(out, layout)
    return out.to(comfy.model_management.intermediate_device())


class _Restorer:
    def __init__(self, model, vae, guider, sampler, sigmas, tiled: bool, frame_per_image: bool = False):
        self.model, self.vae, self.guider, self.sampler, self.sigmas = model, vae, guider, sampler, sigmas
        self.tiled = tiled
        # Images through a video VAE (Qwen-Image's is Wan 2.1's): it reads a batch as the frames of one clip, so
        # each image is encoded on its own, as a one-frame clip (a latent batch of (n, C, 1, h, w)).
        self.frame_per_image = frame_per_image
        self.steps = int(sigmas.shape[-1]) - 1

    # -- building blocks -------------------------------------------------------------------------------------
    def encode(self, pixels):
        if self.frame_per_image and pixels.shape[0] > 1:
            return torch.cat([self.encode_one(pixels[i:i + 1]) for i in range(pixels.shape[0])])
        return self.encode_one(pixels)

    def encode_one(self, pixels):
        if not self.tiled:
            return self.vae.encode(pixels)  # the host retries tiled by itself on out-of-memory
        return self.vae.encode_tiled(pixels, tile_x=TILE_PIXELS, tile_y=TILE_PIXELS, overlap=TILE_OVERLAP,
                                     tile_t=TILE_FRAMES, overlap_t=TILE_FRAME_OVERLAP)

    def decode(self, latent):
        if not self.tiled:
            images = self.vae.decode(latent)
        else:  # as the stock VAE Decode (Tiled) node converts its pixel settings to latent units
            compression = self.vae.spacial_compression_decode()
            tile_t = overlap_t = None
            temporal = self.vae.temporal_compression_decode()
            if temporal is not None:
                tile_t = max(2, TILE_FRAMES // temporal)
                overlap_t = max(1, min(tile_t // 2, TILE_FRAME_OVERLAP // temporal))
            images = self.vae.decode_tiled(latent, tile_x=TILE_PIXELS // compression, tile_y=TILE_PIXELS // compression,
                                           overlap=TILE_OVERLAP // compression, tile_t=tile_t, overlap_t=overlap_t)
        if not torch.isfinite(images).all():  # clamping would hide it; never return a broken image as a result
            raise _fail("the VAE decoded the restored latent to NaN or infinite values",
                        "Load the VAE in bf16 or fp32 (an fp16 VAE can overflow), or lower strength")
        # A video decodes to (1, frames, H, W, C). Clamped here, so joining windows keeps values in [0, 1].
        return images.reshape(-1, *images.shape[-3:]).float().clamp(0.0, 1.0)

    def sample(self, latent, noise, seed, callback):
        samples = self.guider.sample(noise, latent, self.sampler, self.sigmas, callback=callback,
                                     disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
        return samples.to(comfy.model_management.intermediate_device())

    # -- FLUX: independent images ----------------------------------------------------------------------------
    def images(self, padded, seed):
        count = padded.shape[0]
        per_call = max(1, CHUNK_PIXELS // (padded.shape[1] * padded.shape[2]))
        progress = _Progress(self.model, self.steps * -(-count // per_call))
        out = []
        for start in range(0, count, per_call):
            end = min(count, start + per_call)
            latent = self.encode(padded[start:end])
            # Each image's noise is the seed's draw for its batch index (as the stock noise with a batch_index),
            # so an image's result does not depend on how the batch is chunked.
            noise = comfy.sample.prepare_noise(latent, seed, list(range(start, end)))
            samples = self.sample(latent, noise, seed, progress.for_call(self.steps))
            out.append(self.decode(samples)[: end - start])
        return torch.cat(out, dim=0)

    # -- Wan: one video, in overlapping temporal windows -----------------------------------------------------
    def video(self, padded, seed, window_frames, overlap_frames):
        step = self.vae.temporal_compression_decode() or 1
        window = largest_valid_window(max(1, int(window_frames)), step)
        if window != window_frames:
            log.info("%s: window_frames %d rounded down to %d (%d k + 1 frames)", NODE, window_frames, window, step)
        frames = padded.shape[0]
        if frames > window and not 0 <= overlap_frames <= max_overlap(window):
            raise _fail(f"overlap_frames is {overlap_frames} but may be at most {max_overlap(window)} with "
                        f"window_frames {window} (half the window)",
                        f"Lower overlap_frames to {min(8, max_overlap(window))}, or raise window_frames")
        windows = plan_windows(frames, window, overlap_frames if frames > window else 0)
        progress = _Progress(self.model, self.steps * len(windows))
        result = None
        for i, (s, e) in enumerate(windows):
            clip, count = pad_frames(padded[s:e], step)  # 4k+1 frames: repeat the last, dropped after decoding
            latent = self.encode(clip)
            window_seed = (int(seed) + i) % SEED_MOD
            noise = comfy.sample.prepare_noise(latent, window_seed)
            samples = self.sample(latent, noise, window_seed, progress.for_call(self.steps))
            decoded = self.decode(samples)[:count]
            if result is None:
                result = decoded.new_zeros((frames, *decoded.shape[1:]))
            blend_window(result, decoded, windows, i)  # linear cross-fade over the overlap, in pixel space
        return result


__all__ = ["NODE", "restore"]
