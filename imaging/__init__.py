"""Pure-torch image/video plumbing for restoring whatever users bring (no ComfyUI import anywhere in here).

spatial:  pad to the model's size multiple without resizing, crop back exactly.
channels: gray / gray+alpha / RGB / RGBA <-> the RGB a model restores, alpha reattached bit-exactly.
temporal: 4k+1 frame counts, overlapping temporal windows for long videos, linear cross-fade joins.
"""
from .channels import LUMA_WEIGHTS, SUPPORTED_CHANNELS, ChannelLayout, merge_channels, split_channels, to_gray
from .spatial import FIT_MODES, PAD_MODES, crop_to, fit_image, pad_indices, pad_to_multiple, padded_size
from .temporal import (blend_window, crossfade_ramp, frames_to_multiple, join_windows, largest_valid_window,
                       max_overlap, pad_frames, plan_windows, window_weights)

__all__ = [
    "LUMA_WEIGHTS", "SUPPORTED_CHANNELS", "ChannelLayout", "merge_channels", "split_channels", "to_gray",
    "FIT_MODES", "PAD_MODES", "crop_to", "fit_image", "pad_indices", "pad_to_multiple", "padded_size",
    "blend_window", "crossfade_ramp", "frames_to_multiple", "join_windows", "largest_valid_window", "max_overlap",
    "pad_frames", "plan_windows", "window_weights",
]
