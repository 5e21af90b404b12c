"""Tier 1: imaging/ (padding, channels, temporal windows and cross-fades), exact on any machine."""
import pytest
import torch

from unlock_restore.imaging import (
    LUMA_WEIGHTS, blend_window, crop_to, crossfade_ramp, frames_to_multiple, join_windows, largest_valid_window,
    max_overlap, merge_channels, pad_frames, pad_indices, pad_to_multiple, padded_size, plan_windows,
    split_channels, window_weights,
)


def _images(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# --- spatial --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,multiple,want", [(1, 16, 16), (16, 16, 16), (17, 16, 32), (37, 16, 48),
                                                (53, 8, 56), (0, 16, 0), (5, 1, 5)])
def test_padded_size(size, multiple, want):
    assert padded_size(size, multiple) == want


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("h,w", [(37, 53), (1, 1), (16, 16), (5, 40), (33, 7)])
def test_pad_crop_round_trip_exact(mode, h, w):
    x = _images((2, h, w, 3))
    padded, size = pad_to_multiple(x, 16, mode)
    assert size == (h, w)
    assert padded.shape == (2, padded_size(h, 16), padded_size(w, 16), 3)
    assert padded.shape[1] % 16 == 0 and padded.shape[2] % 16 == 0
    assert torch.equal(padded[:, :h, :w], x)  # the original is untouched in the top-left corner
    assert torch.equal(crop_to(padded, h, w), x)


def test_pad_values_follow_the_mode():
    x = torch.arange(5, dtype=torch.float32).reshape(1, 1, 5, 1)  # one row: 0 1 2 3 4
    rep, _ = pad_to_multiple(x, (1, 8), "replicate")
    assert rep.flatten().tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    ref, _ = pad_to_multiple(x, (1, 8), "reflect")
    assert ref.flatten().tolist() == [0, 1, 2, 3, 4, 3, 2, 1]
    # A pad longer than the image folds again instead of failing (torch's reflect pad cannot do this).
    assert pad_indices(3, 9, "reflect").tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    assert pad_indices(1, 4, "reflect").tolist() == [0, 0, 0, 0]


def test_pad_separate_multiples_and_noop():
    x = _images((1, 20, 30, 4))
    padded, _ = pad_to_multiple(x, (8, 32))
    assert padded.shape == (1, 24, 32, 4)
    same, size = pad_to_multiple(_images((1, 32, 48, 3)), 16)
    assert same.shape == (1, 32, 48, 3) and size == (32, 48)


def test_pad_works_on_video_batches():
    x = _images((2, 3, 10, 12, 3))  # (batch, frames, H, W, C)
    padded, (h, w) = pad_to_multiple(x, 16)
    assert padded.shape == (2, 3, 16, 16, 3)
    assert torch.equal(crop_to(padded, h, w), x)


def test_pad_rejects_bad_input():
    with pytest.raises(ValueError):
        pad_to_multiple(torch.zeros(1, 0, 4, 3), 16)
    with pytest.raises(ValueError):
        pad_to_multiple(torch.zeros(1, 4, 4, 3), 16, mode="wrap")


# --- channels -------------------------------------------------------------------------------------------------

def test_rgb_passes_through():
    x = _images((2, 9, 11, 3))
    rgb, layout = split_channels(x)
    assert torch.equal(rgb, x) and layout.alpha is None
    assert torch.equal(merge_channels(rgb, layout), x)


def test_alpha_reattached_bit_exact():
    x = _images((2, 9, 11, 4))
    rgb, layout = split_channels(x)
    assert torch.equal(rgb, x[..., :3])
    restored = 1.0 - rgb  # any change of the colour
    out = merge_channels(restored, layout)
    assert out.shape == x.shape
    assert torch.equal(out[..., 3], x[..., 3])
    assert torch.equal(out[..., :3], restored)


@pytest.mark.parametrize("channels", [1, 2])
def test_gray_restored_as_rgb_returned_as_gray(channels):
    x = _images((2, 9, 11, channels))
    rgb, layout = split_channels(x)
    assert rgb.shape == (2, 9, 11, 3)
    assert torch.equal(rgb[..., 0], x[..., 0]) and torch.equal(rgb[..., 1], rgb[..., 2])
    out = merge_channels(rgb, layout)
    assert out.shape == x.shape
    torch.testing.assert_close(out[..., :1], x[..., :1], atol=1e-6, rtol=0)  # luma of gray is the gray
    if channels == 2:
        assert torch.equal(out[..., 1], x[..., 1])
    # A coloured result becomes its BT.601 luma.
    colour = torch.tensor([1.0, 0.0, 0.0]).expand(2, 9, 11, 3)
    assert torch.allclose(merge_channels(colour, layout)[..., 0], torch.tensor(LUMA_WEIGHTS[0]))


def test_unsupported_channel_count():
    with pytest.raises(ValueError, match="channels"):
        split_channels(torch.zeros(1, 4, 4, 5))


# --- temporal: frame counts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n,want", [(1, 1), (2, 5), (5, 5), (8, 9), (9, 9), (10, 13), (33, 33), (40, 41)])
def test_frames_to_multiple(n, want):
    assert frames_to_multiple(n) == want
    assert (want - 1) % 4 == 0


@pytest.mark.parametrize("n,want", [(1, 1), (4, 1), (5, 5), (32, 29), (33, 33), (36, 33)])
def test_largest_valid_window(n, want):
    assert largest_valid_window(n) == want


@pytest.mark.parametrize("n", [1, 3, 5, 10, 33])
def test_pad_frames_repeats_the_last_frame(n):
    x = _images((n, 4, 4, 3))
    padded, count = pad_frames(x)
    assert count == n and padded.shape[0] == frames_to_multiple(n)
    assert torch.equal(padded[:n], x)
    for f in range(n, padded.shape[0]):
        assert torch.equal(padded[f], x[-1])


# --- temporal: windows ----------------------------------------------------------------------------------------

def _check_plan(frames, window, overlap):
    plan = plan_windows(frames, window, overlap)
    covered = torch.zeros(frames, dtype=torch.int64)
    for s, e in plan:
        assert 0 <= s < e <= frames
        covered[s:e] += 1
    assert bool((covered >= 1).all()), "a frame is in no window"
    assert int(covered.max()) <= 2, "a frame is in more than two windows"
    assert plan[0][0] == 0 and plan[-1][1] == frames
    for (s0, e0), (s1, e1) in zip(plan, plan[1:]):
        assert s1 > s0 and e1 > e0
        assert e0 - s1 == overlap, "overlap not as requested"
    for s, e in plan[:-1]:
        assert e - s == window  # full windows: the requested 4k+1 length
    for s, e in plan:
        assert (frames_to_multiple(e - s) - 1) % 4 == 0
        assert frames_to_multiple(e - s) <= window  # padding a window never makes it longer than requested
    return plan


def test_plan_fewer_frames_than_one_window():
    assert _check_plan(9, 33, 8) == [(0, 9)]
    assert _check_plan(30, 33, 8) == [(0, 30)]  # padded to 33 by the caller
    assert _check_plan(1, 33, 8) == [(0, 1)]


def test_plan_exactly_one_window():
    assert _check_plan(33, 33, 8) == [(0, 33)]


def test_plan_40_frames_window_33_overlap_8():
    assert _check_plan(40, 33, 8) == [(0, 33), (25, 40)]


@pytest.mark.parametrize("frames", [34, 58, 59, 81, 100, 250])
@pytest.mark.parametrize("window,overlap", [(33, 8), (33, 0), (33, 16), (17, 4), (5, 2), (9, 1)])
def test_plan_general(frames, window, overlap):
    plan = _check_plan(frames, window, overlap)
    assert len(plan) >= 2


def test_plan_rejects_bad_options():
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(40, 33, 17)  # more than half the window
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(40, 33, -1)
    with pytest.raises(ValueError):
        plan_windows(0, 33, 8)
    assert max_overlap(33) == 16


# --- temporal: cross-fade -------------------------------------------------------------------------------------

@pytest.mark.parametrize("frames,window,overlap", [(40, 33, 8), (100, 33, 8), (81, 17, 4), (34, 33, 16),
                                                   (70, 33, 0)])
def test_weights_sum_to_one_and_ramp_monotonically(frames, window, overlap):
    plan = plan_windows(frames, window, overlap)
    w = window_weights(plan, frames)
    torch.testing.assert_close(w.sum(0), torch.ones(frames, dtype=torch.float64), atol=1e-12, rtol=0)
    assert bool((w >= 0).all() and (w <= 1).all())
    for i, ((s0, e0), (s1, e1)) in enumerate(zip(plan, plan[1:])):
        up, down = w[i + 1, s1:e0], w[i, s1:e0]
        assert bool((up.diff() > 0).all()) and bool((down.diff() < 0).all())  # strictly monotonic over overlap
        assert bool((up > 0).all() and (up < 1).all())  # no hard switch inside the overlap
    for i, (s, e) in enumerate(plan):  # outside the overlaps each window counts fully, alone
        own_start = plan[i - 1][1] if i else s
        own_end = plan[i + 1][0] if i + 1 < len(plan) else e
        assert bool((w[i, own_start:own_end] == 1).all())
        assert bool((w[:, own_start:own_end].sum(0) == 1).all())


def test_ramp_values():
    assert crossfade_ramp(3).tolist() == [0.25, 0.5, 0.75]
    assert crossfade_ramp(0).numel() == 0


def test_join_constant_video_is_exact():
    frames, window, overlap = 100, 33, 8
    plan = plan_windows(frames, window, overlap)
    c = _images((1, 6, 5, 3), seed=3)
    outs = [c.expand(e - s, -1, -1, -1).clone() for s, e in plan]
    joined = join_windows(outs, plan, frames)
    assert joined.shape == (frames, 6, 5, 3)
    assert torch.equal(joined, c.expand(frames, -1, -1, -1))


def test_join_two_constants_ramps_only_within_the_overlap():
    frames, window, overlap = 40, 33, 8
    plan = plan_windows(frames, window, overlap)
    (s0, e0), (s1, e1) = plan
    a, b = 0.2, 0.9
    outs = [torch.full((e0 - s0, 2, 2, 3), a), torch.full((e1 - s1, 2, 2, 3), b)]
    joined = join_windows(outs, plan, frames)[:, 0, 0, 0].double()
    assert bool((joined[:s1] == torch.tensor(a).double()).all())  # before the overlap: window 0 exactly
    assert bool((joined[e0:] == torch.tensor(b).double()).all())  # after it: window 1 exactly
    step = (b - a) / (overlap + 1)
    expected = a + (b - a) * crossfade_ramp(overlap)
    torch.testing.assert_close(joined[s1:e0], expected, atol=1e-6, rtol=0)
    jumps = joined.diff()
    # No seam: the largest frame-to-frame change is one step of the ramp (a hard cut would be b - a).
    assert float(jumps.abs().max()) <= step + 1e-6
    assert bool((jumps[s1 - 1:e0] > 0).all())  # the change is spread over the overlap and its two edges
    assert int((jumps.abs() > 1e-7).sum()) == overlap + 1


def test_join_equals_weighted_sum():
    frames, window, overlap = 81, 17, 4
    plan = plan_windows(frames, window, overlap)
    outs = [_images((e - s, 3, 3, 3), seed=i) for i, (s, e) in enumerate(plan)]
    joined = join_windows(outs, plan, frames)
    w = window_weights(plan, frames)
    ref = torch.zeros(frames, 3, 3, 3, dtype=torch.float64)
    for i, ((s, e), out) in enumerate(zip(plan, outs)):
        ref[s:e] += w[i, s:e].reshape(-1, 1, 1, 1) * out.double()
    torch.testing.assert_close(joined.double(), ref, atol=1e-6, rtol=0)


def test_blend_window_checks_lengths():
    plan = plan_windows(40, 33, 8)
    with pytest.raises(ValueError, match="window 1"):
        blend_window(torch.zeros(40, 1), torch.zeros(14, 1), plan, 1)


def test_fit_image_crop_keeps_aspect_and_centre():
    from unlock_restore.imaging.spatial import fit_image

    img = torch.zeros(40, 80, 3)
    img[:, 10:70] = 1.0  # a white centre band, 60 of 80 wide
    out = fit_image(img, 20, 20, "crop")  # scaled to 20x40 (band 5-35), centre 20x20 cut (10-30): inside the band
    assert out.shape == (20, 20, 3) and torch.allclose(out, torch.ones_like(out), atol=1e-5)
    stretched = fit_image(img, 20, 20, "resize")
    assert stretched.shape == (20, 20, 3) and stretched[:, 0].max() < 0.5 < stretched[:, 10].min()
    assert fit_image(img, 20, 20, "crop")[:, 0].min() > 0.5  # crop cuts the dark edges away
    assert fit_image(img, 80, 40) is img  # already that size: untouched
    up = fit_image(torch.rand(8, 8, 3), 16, 32, "crop")
    assert up.shape == (32, 16, 3) and 0.0 <= float(up.min()) and float(up.max()) <= 1.0
    with pytest.raises(ValueError, match="fit mode"):
        fit_image(img, 8, 8, "pad")
    with pytest.raises(ValueError, match="at least 1x1"):
        fit_image(img, 0, 8)
