"""Tier 1: synthetic degradations (imaging/degradations.py) and PSNR/SSIM (imaging/metrics.py), no ComfyUI.

The blur-based degradations need kornia (ComfyUI ships it); the metrics need scikit-image (optional for users,
part of the test environment). Tests that need a missing one are skipped with a loud reason.
"""
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlock_restore.imaging.degradations import (DEGRADATIONS, NEEDS_KORNIA, DegradationError, degrade,
                                                 degrade_chain, disk_kernel, jpeg_quality)
from unlock_restore.imaging.metrics import MetricInputError, convention, psnr_ssim, resize_for_eval, to_y

try:
    import kornia  # noqa: F401
    HAVE_KORNIA = True
except ImportError:
    HAVE_KORNIA = False
try:
    import skimage.metrics as skm
except ImportError:
    skm = None

REPO = Path(__file__).resolve().parents[1]
NO_KORNIA = "!!! KORNIA MISSING: blur/haze/rain/snow degradations untested (pip install kornia) !!!"
needs_skimage = pytest.mark.skipif(skm is None, reason="!!! SCIKIT-IMAGE MISSING: metric tests skipped "
                                                         "(pip install scikit-image) !!!")
RANDOM = ("gaussian_noise", "motion_blur", "haze", "rain", "snow", "low_light")  # draw from the seed
DETERMINISTIC = ("defocus_blur", "jpeg", "downscale")


def _names(names):
    return [pytest.param(n, marks=pytest.mark.skipif(n in NEEDS_KORNIA and not HAVE_KORNIA, reason=NO_KORNIA))
            for n in names]


def scene(h=96, w=96, seed=0):
    """A small structured image: colour gradients, a dark box with a bright bar (edges), fine texture."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([xx, yy, 0.5 + 0.35 * torch.sin(14 * xx + seed) * torch.cos(11 * yy)], -1)
    img[h // 3: 2 * h // 3, w // 4: 3 * w // 4] = torch.tensor([0.08, 0.1, 0.09])
    img[2 * h // 5: 3 * h // 5, 2 * w // 5: w // 2] = 0.95
    g = torch.Generator().manual_seed(seed)
    return (img + 0.03 * torch.randn(img.shape, generator=g)).clamp(0, 1)[None]


def psnr(a, b):
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return math.inf if mse == 0 else -10 * math.log10(mse)


# --- degradations ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", _names(DEGRADATIONS))
def test_each_degradation_changes_the_image_keeping_shape_and_range(name):
    x = torch.cat([scene(seed=0), scene(seed=1)])
    out = degrade(x, name, 0.5, seed=3)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    for i in range(2):
        p = psnr(out[i], x[i])
        assert math.isfinite(p) and p < 40, f"{name}: PSNR {p:.2f} dB at strength 0.5 is hardly a degradation"


@pytest.mark.parametrize("name", _names(DEGRADATIONS))
def test_strength_zero_is_the_identity(name):
    x = scene()
    assert torch.equal(degrade(x, name, 0.0, seed=5), x)


@pytest.mark.parametrize("name", _names(DEGRADATIONS))
def test_higher_strength_degrades_more(name):
    x = scene()
    p = [psnr(degrade(x, name, s, seed=7), x) for s in (0.3, 0.6, 1.0)]
    assert p[0] > p[1] > p[2], f"{name}: PSNR {p} does not fall with strength"


@pytest.mark.parametrize("name", _names(DEGRADATIONS))
def test_same_seed_is_bit_identical(name):
    x = torch.cat([scene(seed=0), scene(seed=1)])
    assert torch.equal(degrade(x, name, 0.7, seed=11), degrade(x.clone(), name, 0.7, seed=11))


@pytest.mark.parametrize("name", _names(RANDOM))
def test_random_degradations_follow_the_seed_and_differ_per_batch_image(name):
    x = scene()
    a, b = degrade(x, name, 0.7, seed=1), degrade(x, name, 0.7, seed=2)
    assert not torch.equal(a, b), f"{name}: another seed gave the same output"
    twice = degrade(torch.cat([x, x]), name, 0.7, seed=1)
    assert not torch.equal(twice[0], twice[1]), f"{name}: two batch images got the same random draws"
    assert torch.equal(twice[0:1], a)  # image 0 of a batch = that image alone: draws depend on (seed, index)
    other = degrade(torch.cat([scene(seed=4), x]), name, 0.7, seed=1)
    assert torch.equal(other[1], twice[1])  # never on the other images of the batch


@pytest.mark.parametrize("name", _names(DETERMINISTIC))
def test_deterministic_degradations_ignore_the_seed(name):
    x = scene()
    assert torch.equal(degrade(x, name, 0.7, seed=1), degrade(x, name, 0.7, seed=2))


@pytest.mark.skipif(not HAVE_KORNIA, reason=NO_KORNIA)
def test_haze_brightens_dark_regions_towards_a_uniform_airlight_and_lowers_contrast():
    x = scene()
    out = degrade(x, "haze", 0.6, seed=2)
    dark = x.mean(-1) < 0.15
    assert dark.sum() > 100
    assert (out.mean(-1)[dark] > x.mean(-1)[dark] + 0.1).all()
    assert out.std() < 0.7 * x.std()
    # On black, I = A (1 - t): the colour is the airlight everywhere (t is one number per pixel), the top of
    # the frame (far in the depth proxy) is brighter than the bottom, and the airlight is in its documented range.
    black = degrade(torch.zeros(1, 64, 48, 3), "haze", 1.0, seed=2)[0]
    ratio = black[..., 0] / black[..., 1]
    assert torch.allclose(ratio, ratio.mean().expand_as(ratio), atol=1e-5)
    rows = black.mean(dim=(1, 2))
    assert (rows[1:] <= rows[:-1] + 1e-6).all() and rows[0] > rows[-1] + 0.1
    assert black.max() <= 0.98 and black.min() > 0


@pytest.mark.parametrize("strength", [0.3, 1.0])
def test_low_light_lowers_mean_brightness(strength):
    x = scene()
    out = degrade(x, "low_light", strength, seed=0)
    assert out.mean() < (1 - 0.6 * strength) * x.mean()
    bright = x.mean(-1) > 0.6
    assert (out.mean(-1)[bright] < x.mean(-1)[bright]).float().mean() > 0.95


def test_jpeg_is_a_pil_round_trip_at_the_documented_quality():
    assert jpeg_quality(0.0) == 95 and jpeg_quality(1.0) == 10 and jpeg_quality(0.4) == round(95 - 85 * 0.4) == 61
    x = torch.cat([scene(seed=0), scene(seed=1)])
    out = degrade(x, "jpeg", 0.4, seed=0)
    for i in range(2):
        buf = io.BytesIO()
        Image.fromarray((x[i].numpy() * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=61)
        want = torch.from_numpy(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"),
                                           dtype=np.float32) / 255)
        assert torch.equal(out[i], want)


@pytest.mark.skipif(not HAVE_KORNIA, reason=NO_KORNIA)
def test_combinations_apply_in_order_each_step_on_its_own_stage():
    x = scene()
    steps = [("low_light", 0.5), ("none", 0.9), ("rain", 0.4)]
    chained = degrade_chain(x, steps, seed=9)
    by_hand = degrade(degrade(x, "low_light", 0.5, 9, stage=0), "rain", 0.4, 9, stage=2)
    assert torch.equal(chained, by_hand)
    assert not torch.equal(chained, degrade_chain(x, [("rain", 0.4), ("none", 0.9), ("low_light", 0.5)], seed=9))
    # The same random degradation twice draws twice (stage is part of the seed).
    noise = degrade_chain(torch.full((1, 16, 16, 3), 0.5), [("gaussian_noise", 0.2), ("gaussian_noise", 0.2)], 0)
    single = degrade(torch.full((1, 16, 16, 3), 0.5), "gaussian_noise", 0.2, 0)
    assert not torch.equal(noise, degrade(single, "gaussian_noise", 0.2, 0))


def test_alpha_is_kept_and_gray_stays_gray():
    rgba = torch.cat([scene(), torch.rand(1, 96, 96, 1, generator=torch.Generator().manual_seed(0))], -1)
    out = degrade(rgba, "gaussian_noise", 0.5, seed=0)
    assert out.shape == rgba.shape and torch.equal(out[..., 3], rgba[..., 3])
    assert not torch.equal(out[..., :3], rgba[..., :3])
    gray = scene().mean(-1, keepdim=True)
    assert degrade(gray, "jpeg", 0.5).shape == gray.shape


def test_bad_requests_are_refused():
    x = scene()
    with pytest.raises(DegradationError, match="unknown degradation 'fog'.*haze"):
        degrade(x, "fog", 0.5)
    with pytest.raises(DegradationError, match=r"strength must be in \[0, 1\]"):
        degrade(x, "haze", 1.5)
    with pytest.raises(DegradationError, match=r"\(B, H, W, C\)"):
        degrade(x[0], "jpeg", 0.5)


@pytest.mark.skipif(not HAVE_KORNIA, reason=NO_KORNIA)
@pytest.mark.parametrize("ksize", [(5, 7), (17, 21)])  # kornia's direct path, and the FFT path for large kernels
def test_large_kernels_filter_like_kornia(ksize):
    from kornia.filters import filter2d

    from unlock_restore.imaging.degradations import FFT_MIN_TAPS, _filter

    assert (ksize[0] * ksize[1] > FFT_MIN_TAPS) == (ksize[0] > 10)
    g = torch.Generator().manual_seed(0)
    x, kernel = torch.rand(2, 3, 40, 52, generator=g), torch.rand(ksize, generator=g)  # asymmetric kernel
    want = filter2d(x, kernel[None], border_type="replicate")
    assert torch.allclose(_filter(x, kernel), want, atol=2e-5)


def test_disk_kernel():
    assert torch.equal(disk_kernel(0.3), torch.ones(1, 1))
    assert disk_kernel(0.6).shape == (3, 3)
    k = disk_kernel(4.2)
    assert k.shape == (9, 9) and abs(k.sum().item() - 1) < 1e-6 and (k[0] > 0).any()
    assert torch.equal(k, k.flip(0)) and torch.equal(k, k.T)
    assert k[4, 4] == k.max() and k[0, 0] == 0  # round: corners outside the disk


# --- metrics --------------------------------------------------------------------------------------------------

def _pair(h=40, w=48, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(b, h, w, 3, generator=g)
    return (ref + 0.1 * torch.randn(ref.shape, generator=g)).clamp(0, 1), ref


@needs_skimage
def test_metrics_equal_direct_scikit_image_calls():
    out, ref = _pair()
    got = psnr_ssim(out, ref)
    for i, (p, s) in enumerate(got):
        r, o = ref[i].double().numpy(), out[i].double().numpy()
        assert abs(p - skm.peak_signal_noise_ratio(r, o, data_range=1)) < 1e-12
        assert abs(s - skm.structural_similarity(r, o, channel_axis=-1, data_range=1)) < 1e-12
    assert 10 < got[0][0] < 40 and 0 < got[0][1] < 1


@needs_skimage
def test_identical_images_give_inf_psnr_and_ssim_one():
    _, ref = _pair()
    assert psnr_ssim(ref, ref.clone()) == [(math.inf, 1.0)] * 2


@needs_skimage
def test_y_channel_is_bt601_studio_luma_and_differs_from_rgb():
    out, ref = _pair()
    y = psnr_ssim(out, ref, y_channel=True)
    rgb = psnr_ssim(out, ref)

    def luma(t):  # MATLAB rgb2ycbcr on [0, 1]: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255
        a = t.double().numpy()
        return (16 + 65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255

    for i in range(2):
        assert abs(y[i][0] - skm.peak_signal_noise_ratio(luma(ref[i]), luma(out[i]), data_range=1)) < 1e-9
        assert abs(y[i][1] - skm.structural_similarity(luma(ref[i]), luma(out[i]), data_range=1)) < 1e-9
        assert abs(y[i][0] - rgb[i][0]) > 0.5
    # An error with no luma in it (a pure chroma shift) is invisible on Y, not on RGB.
    ref = 0.3 + 0.4 * scene()
    chroma = torch.tensor([24.966, 0.0, -65.481]) / 70.08  # orthogonal to the Y weights
    out = ref + 0.05 * torch.randn(ref.shape[:-1] + (1,), generator=torch.Generator().manual_seed(0)) * chroma
    assert out.min() >= 0 and out.max() <= 1
    (py, sy), = psnr_ssim(out, ref, y_channel=True)
    (pc, sc), = psnr_ssim(out, ref)
    assert py > 100 and sy > 0.999999 and pc < 40 and sc < 0.99
    assert np.allclose(to_y(np.ones(3)), 235 / 255) and np.allclose(to_y(np.zeros(3)), 16 / 255)
    assert "Y channel" in convention(y_channel=True) and "RGB" in convention()


@needs_skimage
def test_resize_to_512_matches_pil_bicubic_and_allows_different_sizes():
    out, ref = _pair(h=40, w=48, b=1)
    out_big = torch.nn.functional.interpolate(out.permute(0, 3, 1, 2), size=(60, 72), mode="bilinear",
                                              align_corners=False).permute(0, 2, 3, 1)
    with pytest.raises(MetricInputError, match="sizes differ: restored 72x60 vs reference 48x40"):
        psnr_ssim(out_big, ref)
    got = psnr_ssim(out_big, ref, resize_to_512=True)

    def pil_512(t):
        return np.stack([np.asarray(Image.fromarray(t[0, ..., c].numpy(), "F").resize((512, 512), Image.BICUBIC))
                         for c in range(3)], -1).astype(np.float64).clip(0, 1)

    r, o = pil_512(ref), pil_512(out_big)
    assert resize_for_eval(ref).shape == (1, 512, 512, 3)
    assert abs(got[0][0] - skm.peak_signal_noise_ratio(r, o, data_range=1)) < 1e-3
    assert abs(got[0][1] - skm.structural_similarity(r, o, channel_axis=-1, data_range=1)) < 1e-4
    assert abs(psnr_ssim(out, ref, resize_to_512=True)[0][0] - psnr_ssim(out, ref)[0][0]) > 0.1


@needs_skimage
def test_metric_input_errors():
    out, ref = _pair()
    with pytest.raises(MetricInputError, match="batch sizes differ: 1 restored vs 2 reference"):
        psnr_ssim(out[:1], ref)
    with pytest.raises(MetricInputError, match="4 channels"):
        psnr_ssim(torch.cat([out, out[..., :1]], -1), torch.cat([ref, ref[..., :1]], -1))
    with pytest.raises(MetricInputError, match="too small for SSIM"):
        psnr_ssim(out[:, :5, :5], ref[:, :5, :5])


def test_missing_scikit_image_fails_soft_with_install_hint(tmp_path):
    """With scikit-image unimportable, the module imports fine and a metric call says how to install it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "unlock_restore").symlink_to(REPO, target_is_directory=True)
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'skimage':
            raise ImportError('blocked for the test: ' + name)
sys.meta_path.insert(0, Block())
import torch
from unlock_restore.imaging import metrics
from unlock_restore.imaging.degradations import degrade
x = torch.rand(1, 16, 16, 3)
degrade(x, 'jpeg', 0.5)
try:
    metrics.psnr_ssim(x, x)
except metrics.MissingScikitImage as e:
    assert isinstance(e, ImportError)
    print('HINT:', e)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "HINT:" in res.stdout and "pip install scikit-image" in res.stdout, res.stdout
