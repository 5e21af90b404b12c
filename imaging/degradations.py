"""Synthetic degradations for making training pairs from clean photos (pure torch + kornia + PIL; no ComfyUI).

Images are ComfyUI IMAGE tensors: float (B, H, W, C) in [0, 1]. RGB is degraded; gray is degraded as RGB and
returned as luma, an alpha channel is carried through untouched. Every degradation takes a strength in [0, 1]:
0 leaves the image unchanged, 1 is a heavy but still recognisable degradation (see `STRENGTH_DOC`). Sizes
(blur lengths, streaks, flakes) are fractions of the image's shorter side, so a photo degraded at full
resolution and then downsized looks like one degraded at the small size.

Randomness comes only from `torch.Generator`s seeded from (seed, stage, image index): the same seed gives
bit-identical output, every image of a batch gets its own draws, and an image's result depends only on itself,
its index in the batch, the seed and `stage` (never on the other images). `stage` is the position in a chain, so
the same degradation applied twice draws twice.
"""
from __future__ import annotations

import hashlib
import io
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .channels import merge_channels, split_channels

try:  # ComfyUI ships kornia; without it the blur-based degradations explain what is missing.
    import kornia
except ImportError:  # pragma: no cover - exercised only on hosts without kornia
    kornia = None

DEGRADATIONS = ("gaussian_noise", "motion_blur", "defocus_blur", "haze", "rain", "snow", "low_light", "jpeg",
                "downscale")
NEEDS_KORNIA = frozenset({"motion_blur", "defocus_blur", "haze", "rain", "snow"})

# What strength s in [0, 1] means for each degradation ("short side" = the image's shorter side in pixels).
STRENGTH_DOC = {
    "gaussian_noise": "additive Gaussian noise per pixel and channel, sigma = 0.2 s (51/255 at 1)",
    "motion_blur": "linear motion blur, random angle per image, length = 1 + 2 round(3% s short side) px "
                   "(31 px on a 512 image at 1)",
    "defocus_blur": "disk (bokeh) blur, radius = 2% s short side (about 10 px on a 512 image at 1)",
    "haze": "I = J t + A (1 - t), t = exp(-2 s d), depth proxy d in [0.2, 1] (top of the frame and bright "
            "areas are farther), random airlight A about 0.75-0.95",
    "rain": "bright slanted streaks (density 1.2% s of pixels, length 3-8% of short side) screen-blended, "
            "with a light veil (8% s)",
    "snow": "soft flakes of three sizes (density grows with s) over a light haze (25% s)",
    "low_light": "darkened: gain 1 - 0.75 s and gamma 1 + 1.2 s, with Poisson-Gaussian sensor noise "
                 "(1000 x 20^-s photons at white, read noise 0.01 s)",
    "jpeg": "real JPEG encode/decode (PIL, 4:2:0), quality = round(95 - 85 s) (95 ... 10)",
    "downscale": "down by a factor 1 + 7 s (8x at 1), bicubic with antialiasing, then back up bicubic",
}


class DegradationError(ValueError):
    """A bad degradation request (unknown name, strength outside [0, 1], missing kornia)."""


# ---------------------------------------------------------------------------------------------------------------
# Seeds and small helpers
# ---------------------------------------------------------------------------------------------------------------
FFT_MIN_TAPS = 15 * 15  # kernels with more taps are applied through an FFT


def image_generator(seed: int, stage: int, index: int) -> torch.Generator:
    """The CPU generator of image `index` at chain position `stage` for a user seed (any int, e.g. 0..2^64-1)."""
    digest = hashlib.sha256(f"unlock-restore/degrade:{int(seed)}:{int(stage)}:{int(index)}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def jpeg_quality(strength: float) -> int:
    """The JPEG quality used for a strength: 95 at 0, 10 at 1."""
    return int(min(95, max(10, round(95 - 85 * float(strength)))))


def downscale_factor(strength: float) -> float:
    return 1.0 + 7.0 * float(strength)


def _odd(n: float, minimum: int = 1) -> int:
    k = max(int(round(n)), minimum)
    return k if k % 2 else k + 1


def _rand(shape, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=g, dtype=torch.float32).to(like.device)


def _randn(shape, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float32).to(like.device)


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g, dtype=torch.float64))


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """kornia Gaussian blur of (N, C, H, W) with a kernel of +-3 sigma (edges replicated)."""
    sigma = max(float(sigma), 1e-3)
    k = 2 * int(math.ceil(3 * sigma)) + 1
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate (N, C, H, W) with an odd (kh, kw) kernel, edges replicated: kornia's filter2d for small kernels,
    an FFT for large ones (a 131 px motion blur on a 4K photo would take minutes as a direct convolution)."""
    kh, kw = kernel.shape
    if kh * kw <= FFT_MIN_TAPS:
        return kornia.filters.filter2d(x, kernel[None].to(x), border_type="replicate")
    h, w = x.shape[-2:]
    padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    size = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(kernel.flip(0, 1).to(x), s=size)
    return torch.fft.irfft2(spectrum, s=size)[..., kh - 1:kh - 1 + h, kw - 1:kw - 1 + w]


def _motion_kernel(length: int, angle: float) -> torch.Tensor:
    """kornia's line kernel (0 degrees horizontal, 90 vertical), bilinear, symmetric about its centre."""
    return kornia.filters.get_motion_kernel2d(length, torch.tensor([angle]), torch.tensor([0.0]), mode="bilinear")[0]


def _soft_spots(impulses: torch.Tensor, sigma: float) -> torch.Tensor:
    """Impulses (N, 1, H, W) -> soft round spots whose peak is about the impulse value."""
    sigma = max(float(sigma), 0.5)
    return (_gaussian_blur(impulses, sigma) * (2 * math.pi * sigma * sigma)).clamp(0, 1)


def disk_kernel(radius: float) -> torch.Tensor:
    """A normalised anti-aliased disk (defocus PSF) of `radius` pixels: pixel weight clamp(r + 0.5 - distance, 0, 1),
    just large enough for every non-zero weight; r <= 0.5 is the 1x1 identity."""
    r = max(float(radius), 0.0)
    half = max(int(math.ceil(r + 0.5)) - 1, 0)
    ax = torch.arange(-half, half + 1, dtype=torch.float32)
    dist = torch.sqrt(ax[:, None] ** 2 + ax[None, :] ** 2)
    w = (r + 0.5 - dist).clamp(0, 1)
    return w / w.sum()


# ---------------------------------------------------------------------------------------------------------------
# The degradations: x is one image (1, 3, H, W) in [0, 1], s in (0, 1], g its generator.
# ---------------------------------------------------------------------------------------------------------------
def _gaussian_noise(x, s, g):
    return x + 0.2 * s * _randn(x.shape, g, x)


def _motion_blur(x, s, g):
    short = min(x.shape[-2:])
    k = 1 + 2 * int(round(0.03 * s * short))
    angle = _uniform(g, 0.0, 180.0)
    return x if k < 3 else _filter(x, _motion_kernel(k, angle))


def _defocus_blur(x, s, g):
    kernel = disk_kernel(0.02 * s * min(x.shape[-2:]))
    return x if kernel.numel() == 1 else _filter(x, kernel)


def _depth_proxy(x):
    """A smooth depth proxy in [0.2, 1]: far at the top of the frame and where the (blurred) image is bright."""
    h, w = x.shape[-2:]
    lum = kornia.color.rgb_to_grayscale(x)
    scale = 32 / min(h, w)  # blur a small copy: the proxy is smooth at any resolution
    small = F.interpolate(lum, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    lum = F.interpolate(_gaussian_blur(small, 2.0), size=(h, w), mode="bilinear", align_corners=False)
    rows = torch.linspace(1.0, 0.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    return 0.2 + 0.8 * (0.6 * rows + 0.4 * lum).clamp(0, 1)


def _airlight(g, x, low, high):
    level = _uniform(g, low, high)
    tint = torch.tensor([_uniform(g, -0.03, 0.03) for _ in range(3)])
    return (level + tint).clamp(0, 1).view(1, 3, 1, 1).to(x)


def _haze(x, s, g):
    t = torch.exp(-2.0 * s * _depth_proxy(x))
    a = _airlight(g, x, 0.75, 0.95)
    return x * t + a * (1 - t)


def _rain(x, s, g):
    h, w = x.shape[-2:]
    short = min(h, w)
    u, v = _rand((1, 1, h, w), g, x), _rand((1, 1, h, w), g, x)
    angle = 90.0 + _uniform(g, -25.0, 25.0)  # kornia: 0 is horizontal, 90 vertical
    drops = (u < 0.012 * s).to(x) * (0.6 + 0.4 * v)  # the same field at every strength: more s, more drops
    drops = _soft_spots(drops, max(0.5, short / 1024))
    k = _odd((0.03 + 0.05 * s) * short, 3)
    streaks = (_filter(drops, _motion_kernel(k, angle)) * k * 0.8).clamp(0, 1)
    alpha = (0.35 + 0.45 * s) * streaks
    veil = 0.08 * s
    x = x * (1 - veil) + 0.85 * veil
    return 1 - (1 - x) * (1 - alpha)  # screen blend with a white layer of opacity alpha


def _snow(x, s, g):
    h, w = x.shape[-2:]
    short = min(h, w)
    haze = 0.25 * s
    x = x * (1 - haze) + _airlight(g, x, 0.85, 0.95) * haze
    alpha = torch.zeros((1, 1, h, w), device=x.device, dtype=x.dtype)
    for frac, density in ((0.002, 0.004), (0.004, 0.001), (0.008, 0.00025)):  # small, medium, large flakes
        u, v = _rand((1, 1, h, w), g, x), _rand((1, 1, h, w), g, x)
        flakes = _soft_spots((u < density * s).to(x) * (0.7 + 0.3 * v), frac * short)
        alpha = 1 - (1 - alpha) * (1 - flakes)
    return x * (1 - alpha) + 0.95 * alpha


def _low_light(x, s, g):
    dark = (1 - 0.75 * s) * x.clamp(0, 1) ** (1 + 1.2 * s)
    photons = 1000.0 * 20.0 ** (-s)
    shot = torch.poisson((dark * photons).cpu(), generator=g).to(x) / photons
    return shot + 0.01 * s * _randn(x.shape, g, x)


def _jpeg(x, s, g):
    quality = jpeg_quality(s)
    arr = (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1)[None].to(x)


def _downscale(x, s, g):
    h, w = x.shape[-2:]
    f = downscale_factor(s)
    small = F.interpolate(x, size=(max(1, round(h / f)), max(1, round(w / f))), mode="bicubic",
                          align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)


_OPS: dict[str, Callable] = {
    "gaussian_noise": _gaussian_noise, "motion_blur": _motion_blur, "defocus_blur": _defocus_blur,
    "haze": _haze, "rain": _rain, "snow": _snow, "low_light": _low_light, "jpeg": _jpeg, "downscale": _downscale,
}
assert tuple(_OPS) == DEGRADATIONS


# ---------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------
def _check(name: str, strength: float) -> float:
    if name not in _OPS:
        raise DegradationError(f"unknown degradation {name!r}; choose one of {', '.join(DEGRADATIONS)}")
    s = float(strength)
    if not 0.0 <= s <= 1.0:
        raise DegradationError(f"strength must be in [0, 1], got {strength}")
    if name in NEEDS_KORNIA and kornia is None:
        raise DegradationError(f"'{name}' needs kornia, which ComfyUI normally installs; it is missing from this "
                               "Python. Install it into ComfyUI's Python: python -m pip install kornia")
    return s


def degrade(images: torch.Tensor, degradation: str, strength: float, seed: int = 0, stage: int = 0) -> torch.Tensor:
    """Apply one degradation to IMAGE (B, H, W, C) in [0, 1]; same shape and dtype out, clamped to [0, 1]."""
    s = _check(degradation, strength)
    if images.ndim != 4:
        raise DegradationError(f"expected images of shape (B, H, W, C), got {tuple(images.shape)}")
    if s == 0.0 or images.shape[0] == 0:
        return images.clamp(0, 1)
    rgb, layout = split_channels(images)
    op = _OPS[degradation]
    out = []
    for i in range(rgb.shape[0]):
        x = rgb[i:i + 1].permute(0, 3, 1, 2).to(torch.float32)
        y = op(x, s, image_generator(seed, stage, i)).clamp(0, 1)
        out.append(y.permute(0, 2, 3, 1))
    result = merge_channels(torch.cat(out).to(rgb.dtype), layout)
    return result.clamp(0, 1)


def degrade_chain(images: torch.Tensor, steps: Sequence[tuple[str, float]], seed: int = 0) -> torch.Tensor:
    """Apply (degradation, strength) steps in order; step k draws from stage k. 'none' steps are skipped (their
    position still counts, so enabling a later step never changes an earlier one's draws)."""
    for stage, (name, strength) in enumerate(steps):
        if name == "none":
            continue
        images = degrade(images, name, strength, seed, stage)
    return images


__all__ = ["DEGRADATIONS", "STRENGTH_DOC", "NEEDS_KORNIA", "DegradationError", "degrade", "degrade_chain",
           "disk_kernel", "downscale_factor", "image_generator", "jpeg_quality"]
