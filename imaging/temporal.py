"""Frames for video models: 4k+1 frame counts, temporal windows for long videos, and seamless joins.

Video VAEs such as Wan's compress time by 4 causally, so a clip must have 4k+1 frames (`step` = 4). A clip of
another length is padded by repeating its last frame, and the extra frames are dropped after decoding.

Long videos are restored in windows of `window` frames that overlap by `overlap` frames:
    [0, window), [stride, stride + window), ...    stride = window - overlap
the last window ends at the last frame (it may be shorter; it is padded to 4k+1 like any clip). Every overlap is
exactly `overlap` frames, and overlap <= (window - 1) // 2 so no frame is in more than two windows. Windows are
joined with a linear cross-fade over each overlap (in pixel space): at overlap frame j (0-based) of L, the later
window has weight (j + 1) / (L + 1). Outside overlaps a window's frames are taken as they are.
"""
from __future__ import annotations

import torch


def frames_to_multiple(frames: int, step: int = 4) -> int:
    """The smallest count >= frames of the form step * k + 1 (step 4: 1, 5, 9, ..., 33, ...)."""
    if frames < 1:
        raise ValueError(f"need at least one frame, got {frames}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    return -(-(int(frames) - 1) // int(step)) * int(step) + 1


def largest_valid_window(frames: int, step: int = 4) -> int:
    """The largest count <= frames of the form step * k + 1 (rounds a requested window length down)."""
    if frames < 1:
        raise ValueError(f"need at least one frame, got {frames}")
    return (int(frames) - 1) // int(step) * int(step) + 1


def pad_frames(frames: torch.Tensor, step: int = 4) -> tuple[torch.Tensor, int]:
    """Pad (F, ...) to step*k+1 frames by repeating the last frame. Returns (padded, F); padded[:F] is the input."""
    n = int(frames.shape[0])
    target = frames_to_multiple(n, step)
    if target == n:
        return frames, n
    extra = frames[-1:].expand(target - n, *frames.shape[1:])
    return torch.cat([frames, extra], dim=0), n


def max_overlap(window: int) -> int:
    """The largest overlap a window length allows (so no frame lies in three windows)."""
    return (int(window) - 1) // 2


def plan_windows(frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[(start, end), ...] covering frames [0, frames) in order; see the module docstring."""
    if frames < 1:
        raise ValueError(f"need at least one frame, got {frames}")
    if window < 1:
        raise ValueError(f"window must be at least 1 frame, got {window}")
    if not 0 <= overlap <= max_overlap(window):
        raise ValueError(f"overlap must be between 0 and {max_overlap(window)} frames (at most half the window "
                         f"of {window} frames), got {overlap}")
    if frames <= window:
        return [(0, int(frames))]
    stride = window - overlap
    windows = []
    start = 0
    while start + window < frames:
        windows.append((start, start + window))
        start += stride
    windows.append((start, int(frames)))
    return windows


def crossfade_ramp(length: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Weights of the later window over an overlap of `length` frames: (j + 1) / (length + 1), j = 0..length-1."""
    return torch.arange(1, length + 1, dtype=dtype, device=device) / (length + 1)


def window_weights(windows: list[tuple[int, int]], frames: int) -> torch.Tensor:
    """(n_windows, frames) float64 weights of each window per frame (the cross-fade `blend_window` applies). A test
    reference (tests/test_imaging.py: the weights sum to 1 on every frame); the nodes call blend_window."""
    w = torch.zeros(len(windows), frames, dtype=torch.float64)
    for i, (s, e) in enumerate(windows):
        w[i, s:e] = 1.0
        if i > 0:
            prev_end = windows[i - 1][1]
            length = max(0, prev_end - s)
            if length:
                ramp = crossfade_ramp(length)
                w[i, s:prev_end] = ramp
                w[i - 1, s:prev_end] = 1.0 - ramp
    return w


def blend_window(result: torch.Tensor, window_frames: torch.Tensor, windows: list[tuple[int, int]],
                 index: int) -> torch.Tensor:
    """Write window `index` (its own frames, (end - start, ...)) into `result` (frames, ...), in place.

    Windows must be written in order. Frames shared with the previous window are cross-faded as
    result + w * (new - result), so equal inputs give back exactly the same values (no rounding at the join).
    """
    s, e = windows[index]
    if window_frames.shape[0] != e - s:
        raise ValueError(f"window {index} covers frames {s}..{e - 1} ({e - s} frames) but holds "
                         f"{window_frames.shape[0]}")
    window_frames = window_frames.to(device=result.device, dtype=result.dtype)
    shared = max(0, windows[index - 1][1] - s) if index > 0 else 0
    if shared:
        ramp = crossfade_ramp(shared, device=result.device).to(result.dtype)
        ramp = ramp.reshape(-1, *([1] * (result.ndim - 1)))
        old = result[s:s + shared]
        result[s:s + shared] = old + ramp * (window_frames[:shared] - old)
    result[s + shared:e] = window_frames[shared:]
    return result


def join_windows(outputs: list[torch.Tensor], windows: list[tuple[int, int]], frames: int) -> torch.Tensor:
    """Join per-window outputs (each (end - start, ...)) into one (frames, ...) video with cross-fades. A test
    reference: Restore blends each window as it is decoded (nodes/restoring.py), and tests/test_restore.py holds
    that to this join of all windows at once."""
    if len(outputs) != len(windows) or not outputs:
        raise ValueError(f"{len(outputs)} outputs for {len(windows)} windows")
    result = outputs[0].new_zeros((frames, *outputs[0].shape[1:]))
    for i, out in enumerate(outputs):
        blend_window(result, out, windows, i)
    return result


__all__ = ["frames_to_multiple", "largest_valid_window", "pad_frames", "max_overlap", "plan_windows",
           "crossfade_ramp", "window_weights", "blend_window", "join_windows"]
