"""PSNR / SSIM of restored images against references, by scikit-image (an optional dependency; no ComfyUI).

The official protocol: scikit-image `peak_signal_noise_ratio(reference, restored, data_range=1)` and the default
`structural_similarity(reference, restored, channel_axis=-1, data_range=1)` on float64 RGB in [0, 1], after
resizing both images to 512x512 (bicubic). Options:
- `y_channel`: both metrics on the luma Y of ITU-R BT.601 YCbCr, studio range as MATLAB's `rgb2ycbcr` (the
  convention of restoration papers' "PSNR-Y": Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255), data_range 1;
- `resize_to_512`: both images resized to 512x512 (bicubic with antialiasing, PIL's filter) and clamped to
  [0, 1] before the metrics; sizes may then differ between restored and reference.

scikit-image is imported only when a metric is computed: importing this module never needs it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# MATLAB rgb2ycbcr / BT.601 studio range, for RGB in [0, 1]: Y in [16/255, 235/255].
Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
Y_OFFSET = 16.0 / 255.0
EVAL_SIZE = 512
INSTALL_HINT = ("PSNR/SSIM need scikit-image, which is not installed in the Python that runs ComfyUI. Install it "
                "there with `python -m pip install scikit-image` (Windows portable build: "
                "`python_embeded\\python.exe -m pip install scikit-image`), then restart ComfyUI.")


class MissingScikitImage(ImportError):
    """scikit-image is not installed; the message says how to install it."""


class MetricInputError(ValueError):
    """Restored and reference images that cannot be compared (batch, size or channel mismatch)."""


def load_skimage_metrics():
    """(peak_signal_noise_ratio, structural_similarity) from scikit-image, or MissingScikitImage."""
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError as e:
        raise MissingScikitImage(INSTALL_HINT) from e
    return peak_signal_noise_ratio, structural_similarity


def convention(y_channel: bool = False, resize_to_512: bool = False) -> str:
    """A short label of what was measured, for display next to the numbers."""
    space = "Y channel (BT.601 YCbCr, MATLAB rgb2ycbcr)" if y_channel else "RGB"
    size = f"resized to {EVAL_SIZE}x{EVAL_SIZE} (bicubic)" if resize_to_512 else "native size"
    return f"{space}, {size}, data_range 1, scikit-image"


def resize_for_eval(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, 512, 512, C), bicubic with antialiasing (as PIL's BICUBIC), clamped to [0, 1]."""
    x = images.permute(0, 3, 1, 2).to(torch.float64)
    if tuple(x.shape[-2:]) != (EVAL_SIZE, EVAL_SIZE):
        x = F.interpolate(x, size=(EVAL_SIZE, EVAL_SIZE), mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 1).permute(0, 2, 3, 1)


def to_y(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (...) Y of BT.601 YCbCr, studio range (MATLAB rgb2ycbcr), in [16/255, 235/255]."""
    return rgb @ np.asarray(Y_WEIGHTS, dtype=np.float64) + Y_OFFSET


def _check_pair(restored: torch.Tensor, reference: torch.Tensor, resize_to_512: bool) -> None:
    for name, t in (("restored", restored), ("reference", reference)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise MetricInputError(f"{name} must be an IMAGE batch (B, H, W, C), got {shape}")
        if t.shape[-1] != 3:
            raise MetricInputError(f"{name} has {t.shape[-1]} channels; PSNR/SSIM compare RGB images (3 channels). "
                                   "Convert gray or RGBA images to RGB first.")
        if t.shape[0] == 0:
            raise MetricInputError(f"{name} is an empty batch")
    if restored.shape[0] != reference.shape[0]:
        raise MetricInputError(f"batch sizes differ: {restored.shape[0]} restored vs {reference.shape[0]} reference "
                               "images; give one reference per restored image, in the same order.")
    if not resize_to_512 and restored.shape[1:3] != reference.shape[1:3]:
        (rh, rw), (fh, fw) = restored.shape[1:3], reference.shape[1:3]
        raise MetricInputError(f"image sizes differ: restored {rw}x{rh} vs reference {fw}x{fh} (width x height). "
                               "Compare images of the same size, or turn on resize_to_512 (the official "
                               "evaluation's resize).")


def psnr_ssim(restored: torch.Tensor, reference: torch.Tensor, y_channel: bool = False,
              resize_to_512: bool = False) -> list[tuple[float, float]]:
    """Per-image (PSNR in dB, SSIM) of restored vs reference IMAGE batches (B, H, W, 3) in [0, 1].

    PSNR of identical images is inf. Raises MissingScikitImage without scikit-image and MetricInputError for
    batches that cannot be compared (SSIM also needs both sides of the compared images >= 7 px).
    """
    _check_pair(restored, reference, resize_to_512)
    psnr_fn, ssim_fn = load_skimage_metrics()
    out_t = restored.detach().to("cpu", torch.float64)
    ref_t = reference.detach().to("cpu", torch.float64)
    if resize_to_512:
        out_t, ref_t = resize_for_eval(out_t), resize_for_eval(ref_t)
    if min(out_t.shape[1:3]) < 7:
        h, w = out_t.shape[1:3]
        raise MetricInputError(f"images of {w}x{h} are too small for SSIM (its 7x7 window needs both sides >= 7 px)")
    results = []
    for out, ref in zip(out_t.numpy(), ref_t.numpy()):
        if y_channel:
            out, ref = to_y(out), to_y(ref)
            ssim = ssim_fn(ref, out, data_range=1)
        else:
            ssim = ssim_fn(ref, out, channel_axis=-1, data_range=1)
        # Identical images: MSE 0, PSNR inf (scikit-image would get there through a divide-by-zero warning).
        psnr = float("inf") if np.array_equal(ref, out) else psnr_fn(ref, out, data_range=1)
        results.append((float(psnr), float(ssim)))
    return results


def mean_metrics(results: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean PSNR and mean SSIM over images (PSNR is inf if any image is identical to its reference)."""
    if not results:
        raise MetricInputError("no images to average")
    return (float(np.mean([p for p, _ in results])), float(np.mean([s for _, s in results])))


__all__ = ["EVAL_SIZE", "INSTALL_HINT", "MetricInputError", "MissingScikitImage", "Y_OFFSET", "Y_WEIGHTS",
           "convention", "load_skimage_metrics", "mean_metrics", "psnr_ssim", "resize_for_eval", "to_y"]
