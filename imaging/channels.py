"""Channel handling: models restore RGB; IMAGE tensors may be gray (1), gray+alpha (2), RGB (3) or RGBA (4).

`split_channels` gives the RGB the model sees plus what is needed to rebuild the input's layout;
`merge_channels` rebuilds it: the original alpha is reattached bit-exactly, gray comes back as luma.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

SUPPORTED_CHANNELS = (1, 2, 3, 4)
# ITU-R BT.601 luma (what PIL's convert("L") uses): the gray a restored RGB image is returned as.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass
class ChannelLayout:
    channels: int                     # the input's channel count
    alpha: torch.Tensor | None        # (..., H, W, 1): the input's alpha, untouched, or None


def split_channels(images: torch.Tensor) -> tuple[torch.Tensor, ChannelLayout]:
    """(..., H, W, C) -> (RGB (..., H, W, 3), layout). Gray is repeated to three channels."""
    c = int(images.shape[-1])
    if c not in SUPPORTED_CHANNELS:
        raise ValueError(f"images must have 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels, got {c}")
    color = images[..., :3] if c >= 3 else images[..., :1].expand(*images.shape[:-1], 3)
    alpha = images[..., c - 1:] if c in (2, 4) else None
    return color.contiguous(), ChannelLayout(c, alpha)


def to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 1) luma."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device)
    return (rgb * w).sum(dim=-1, keepdim=True)


def merge_channels(rgb: torch.Tensor, layout: ChannelLayout) -> torch.Tensor:
    """Restored RGB back to the input's channel layout (alpha reattached exactly, gray as luma)."""
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB (3 channels), got {rgb.shape[-1]}")
    color = rgb if layout.channels >= 3 else to_gray(rgb)
    if layout.alpha is None:
        return color
    if layout.alpha.shape[:-1] != color.shape[:-1]:
        raise ValueError(f"alpha of shape {tuple(layout.alpha.shape)} does not fit images of shape "
                         f"{tuple(color.shape)}")
    return torch.cat([color, layout.alpha.to(device=color.device, dtype=color.dtype)], dim=-1)


__all__ = ["SUPPORTED_CHANNELS", "LUMA_WEIGHTS", "ChannelLayout", "split_channels", "to_gray", "merge_channels"]
