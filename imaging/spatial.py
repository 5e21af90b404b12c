"""Padding images to the size a model accepts, and cropping back: no resizing, so no distortion.

Images are ComfyUI IMAGE tensors, (B, H, W, C) (any leading dims work: only the two dims before the channels are
touched). Padding goes on the bottom and right edges, so cropping back is `[..., :H, :W, :]`.
"""
from __future__ import annotations

import torch

PAD_MODES = ("reflect", "replicate")


def padded_size(size: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= size."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return -(-int(size) // int(multiple)) * int(multiple)


def pad_indices(size: int, total: int, mode: str = "reflect") -> torch.Tensor:
    """Source index for each of `total` output positions of a dim of length `size` padded at its end.

    reflect: mirror without repeating the edge (..., n-2, n-1, n-2, n-3, ...), folding again when the pad is longer
    than the image (so any pad length works); a 1-pixel dim repeats its only pixel. replicate: repeat the last.
    """
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {PAD_MODES}, got {mode!r}")
    if size < 1 or total < size:
        raise ValueError(f"cannot pad a dim of {size} to {total}")
    idx = torch.arange(total)
    if mode == "replicate" or size == 1:
        return idx.clamp(max=size - 1)
    period = 2 * (size - 1)
    j = idx % period
    return torch.where(j < size, j, period - j)


def pad_to_multiple(images: torch.Tensor, multiple, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (..., H, W, C) at the bottom/right so H and W are multiples of `multiple` (an int or (mh, mw)).

    Returns (padded, (H, W)); `crop_to(padded, H, W)` gives the input back exactly. Unpadded input is returned as is.
    """
    if images.ndim < 3:
        raise ValueError(f"expected images shaped (..., H, W, C), got shape {tuple(images.shape)}")
    mh, mw = (multiple, multiple) if isinstance(multiple, int) else (int(multiple[0]), int(multiple[1]))
    h, w = int(images.shape[-3]), int(images.shape[-2])
    if h < 1 or w < 1:
        raise ValueError(f"cannot pad an empty image of {h}x{w} pixels")
    th, tw = padded_size(h, mh), padded_size(w, mw)
    out = images
    if th != h:
        out = out.index_select(-3, pad_indices(h, th, mode).to(images.device))
    if tw != w:
        out = out.index_select(-2, pad_indices(w, tw, mode).to(images.device))
    return out, (h, w)


def crop_to(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left (height, width) of (..., H, W, C): undoes `pad_to_multiple`."""
    if images.shape[-3] < height or images.shape[-2] < width:
        raise ValueError(f"cannot crop {tuple(images.shape[-3:-1])} to ({height}, {width})")
    return images[..., :height, :width, :]


__all__ = ["PAD_MODES", "padded_size", "pad_indices", "pad_to_multiple", "crop_to"]


FIT_MODES = ("crop", "resize")


def fit_image(image: torch.Tensor, width: int, height: int, mode: str = "crop") -> torch.Tensor:
    """One (H, W, C) image brought to (height, width, C) for batching images of different sizes.

    crop: scale (aspect ratio kept) until the image covers width x height, then cut the centre: nothing is
    distorted, the overhanging edges are lost. resize: stretch to width x height. Scaling is bilinear with
    antialiasing (area-like when shrinking); an image already at the size is returned unchanged."""
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode must be one of {FIT_MODES}, got {mode!r}")
    if width < 1 or height < 1:
        raise ValueError(f"target size must be at least 1x1, got {width}x{height}")
    h, w = int(image.shape[0]), int(image.shape[1])
    if (h, w) == (height, width):
        return image
    if mode == "resize":
        new_h, new_w = height, width
    else:
        scale = max(height / h, width / w)
        new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    x = image.movedim(-1, 0).unsqueeze(0).float()
    if (new_h, new_w) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False,
                                            antialias=True)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    x = x[..., top:top + height, left:left + width]
    return x[0].movedim(0, -1).clamp(0.0, 1.0).to(image.dtype)
