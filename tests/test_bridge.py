"""Tier 1: the E-Bridge math against the equations of method.md, written out independently here."""
import math

import pytest
import torch

from unlock_restore.bridge import (
    bridge_coefficients, bridge_loss, bridge_state, bridge_step, mix_predictions, naive_state, noise_estimate,
    sample_bridge, sample_times, time_grid, training_states, velocity_target,
)


def _pair(seed=0, shape=(2, 4, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape, generator=g, dtype=torch.float64)
    y = torch.randn(shape, generator=g, dtype=torch.float64)
    e = torch.randn(shape, generator=g, dtype=torch.float64)
    return x0, y, e


@pytest.mark.parametrize("t0", [0.2, 0.4, 0.8, 1.0])
def test_endpoints(t0):
    x0, y, e = _pair()
    # t = T0: the noisy degraded latent the sampler starts from.
    assert torch.allclose(bridge_state(x0, y, e, t0, t0), (1 - t0) * y + t0 * e, atol=1e-12)
    # t -> 0: the clean latent (exactly at 0, and continuously as t shrinks).
    assert torch.equal(bridge_state(x0, y, e, 0.0, t0), x0)
    err = [(bridge_state(x0, y, e, t, t0) - x0).abs().max().item() for t in (1e-2, 1e-4, 1e-6)]
    assert err[0] > err[1] > err[2] and err[2] < 1e-4


def test_coefficients_match_method():
    t0 = 0.4
    for t in (1e-4, 0.1, 0.25, 0.4):
        c_x0, c_y, c_e = bridge_coefficients(t, t0)
        assert math.isclose(c_x0, (1 - t) * (1 - t / t0))
        assert math.isclose(c_y, (1 - t) * t / t0)  # A(t)
        assert math.isclose(c_e, t)  # B(t)
    with pytest.raises(ValueError, match="T0"):
        bridge_coefficients(0.1, 0.0)


def test_per_sample_times_broadcast():
    x0, y, e = _pair()
    t = torch.tensor([0.1, 0.3], dtype=torch.float64)
    batched = bridge_state(x0, y, e, t, 0.4)
    for i in range(2):
        assert torch.allclose(batched[i], bridge_state(x0[i:i + 1], y[i:i + 1], e[i:i + 1], float(t[i]), 0.4)[0])


def test_naive_and_bridge_differ_as_described():
    x0, y, e = _pair()
    t0 = 0.4
    # Both start from the same noisy degraded state at T0 ...
    assert torch.allclose(naive_state(y, e, t0), bridge_state(x0, y, e, t0, t0), atol=1e-12)
    # ... but below T0 the naive state never moves towards x0: the gap is (1 - t)(1 - t/T0)(x0 - y).
    for t in (0.3, 0.1, 1e-3):
        gap = bridge_state(x0, y, e, t, t0) - naive_state(y, e, t)
        assert torch.allclose(gap, (1 - t) * (1 - t / t0) * (x0 - y), atol=1e-12)
        assert gap.abs().mean() > 0.1
    # The naive state does not depend on the clean latent at all.
    assert torch.equal(training_states(x0, y, torch.tensor([0.2, 0.2]), e, t0, "naive"),
                       training_states(torch.zeros_like(x0), y, torch.tensor([0.2, 0.2]), e, t0, "naive"))


def test_velocity_target_recovers_clean():
    x0, y, e = _pair()
    for t in (1e-3, 0.2, 0.4):
        x_t = bridge_state(x0, y, e, t, 0.4)
        assert torch.allclose(x_t - t * velocity_target(x0, y, e, t, 0.4), x0, atol=1e-10)


def test_time_grid():
    g = time_grid(0.4, 20, 1e-4)
    assert g.shape == (21,) and g.dtype == torch.float32
    assert torch.allclose(g[:-1], torch.linspace(0.4, 1e-4, 20))
    assert g[0].item() == pytest.approx(0.4) and g[-2].item() == pytest.approx(1e-4) and g[-1].item() == 0.0
    assert torch.equal(time_grid(0.5, 1), torch.tensor([0.5, 0.0]))
    for bad in [dict(steps=0), dict(steps=2.5), dict(t0=0.0), dict(t0=1.5), dict(t_min=0.5), dict(t_min=0.0)]:
        with pytest.raises(ValueError):
            time_grid(**{"t0": 0.4, "steps": 4, "t_min": 1e-4, **bad})


@pytest.mark.parametrize("t0,steps", [(0.4, 20), (0.4, 4), (0.7, 2), (0.3, 1), (1.0, 8)])
def test_oracle_denoiser_is_recovered_exactly(t0, steps):
    x0, y, e = _pair(1, (1, 16, 8, 8))
    x0, y, e = x0.float(), y.float(), e.float()
    calls = []

    def oracle(x, t):
        calls.append(float(t[0]))
        return x0

    out = sample_bridge(oracle, y, e, time_grid(t0, steps))
    assert torch.equal(out, x0)
    assert len(calls) == steps  # N steps cost N model evaluations


def test_one_step_matches_method_algebra():
    x0_pred, y, e = _pair(2)
    t0, t, t_next, t_min = 0.4, 0.3, 0.2, 1e-4
    x = (1 - t0) * y + t0 * e + 0.05 * x0_pred
    # method.md, step 3, written out by hand:
    e_hat = (x - (1 - t) * (1 - t / t0) * x0_pred - (1 - t) * (t / t0) * y) / max(t, t_min)
    expected = (1 - t_next) * ((1 - t_next / t0) * x0_pred + (t_next / t0) * y) + t_next * e_hat
    assert torch.allclose(noise_estimate(x, x0_pred, y, t, t0, t_min), e_hat, atol=1e-12)
    assert torch.allclose(bridge_step(x, x0_pred, y, t, t_next, t0, t_min), expected, atol=1e-12)


def test_full_loop_matches_official_loop():
    """The KSAMPLER-style grid (ending at 0) equals the official loop that ends with x0_hat(x, t_min)."""
    _, y, e = _pair(3, (1, 4, 8, 8))
    w = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9)) * 0.3

    def denoiser(x, t):  # an imperfect, time-dependent, nonlinear "model"
        t = t.reshape(-1, 1, 1, 1)
        return torch.tanh(torch.einsum("oc,bchw->bohw", w, x)) * (1 - t) + 0.5 * x

    t0, n, t_min = 0.4, 6, 1e-4
    ts = torch.linspace(t0, t_min, n, dtype=torch.float64).tolist()
    x = (1 - t0) * y + t0 * e
    for t, tn in zip(ts[:-1], ts[1:]):
        xh = denoiser(x, torch.tensor([t], dtype=torch.float64))
        eh = (x - (1 - t) * (1 - t / t0) * xh - (1 - t) * (t / t0) * y) / max(t, t_min)
        x = (1 - tn) * ((1 - tn / t0) * xh + (tn / t0) * y) + tn * eh
    official = denoiser(x, torch.tensor([t_min], dtype=torch.float64))

    sigmas = torch.tensor(ts + [0.0], dtype=torch.float64)
    seen = []
    ours = sample_bridge(denoiser, y, e, sigmas, callback=lambda d: seen.append((d["i"], float(d["sigma"][0]))))
    assert torch.allclose(ours, official, atol=1e-10)
    assert [i for i, _ in seen] == list(range(n)) and seen[0][1] == pytest.approx(t0)


def test_sampler_rejects_bad_schedules():
    _, y, e = _pair()
    for bad in ([0.4, 0.2], [0.4], [0.2, 0.4, 0.0], [0.4, 0.4, 0.0]):
        with pytest.raises(ValueError, match="schedule"):
            sample_bridge(lambda x, t: x, y, e, torch.tensor(bad))
    with pytest.raises(ValueError, match="noise"):
        sample_bridge(lambda x, t: x, y, None, time_grid(0.4, 2))


def test_start_state_given_by_host():
    """KSAMPLER builds the start itself: passing x equals passing the noise."""
    x0, y, e = _pair(4)
    fn = lambda x, t: 0.5 * x  # noqa: E731
    grid = time_grid(0.4, 3)
    t0 = float(grid[0])  # float32-rounded, as the host hands it over
    a = sample_bridge(fn, y, e, grid)
    b = sample_bridge(fn, y, None, grid, x=(1 - t0) * y + t0 * e)
    assert torch.allclose(a, b, atol=1e-12)


def test_loss_zero_for_oracle_positive_otherwise():
    x0, y, _ = _pair(5)
    g = torch.Generator().manual_seed(0)
    assert bridge_loss(lambda x, t: x0, x0, y, generator=g).item() == 0.0
    assert bridge_loss(lambda x, t: x0, x0, y, objective="naive", generator=g).item() == 0.0
    assert bridge_loss(lambda x, t: x, x0, y, generator=g).item() > 1e-3
    assert bridge_loss(lambda x, t: y, x0, y, generator=g).item() > 1e-3
    with pytest.raises(ValueError, match="objective"):
        bridge_loss(lambda x, t: x0, x0, y, objective="ddpm")
    with pytest.raises(ValueError, match="shape"):
        bridge_loss(lambda x, t: x0, x0, y[:1])


def test_loss_uses_given_batch_and_reaches_only_the_model():
    """A fixed (t, noise) gives a fixed loss; the gradient flows into the denoiser's parameters."""
    x0, y, e = (a.float() for a in _pair(6))
    t = torch.tensor([0.1, 0.3])
    scale = torch.ones((), requires_grad=True)
    loss = bridge_loss(lambda x, tt: scale * x, x0, y, t=t, noise=e)
    x_t = bridge_state(x0, y, e, t, 0.4)
    assert torch.allclose(loss, torch.mean((x_t - x0) ** 2))
    loss.backward()
    assert scale.grad is not None and scale.grad.abs() > 0


def test_sample_times_range_and_skew():
    g = torch.Generator().manual_seed(0)
    t = sample_times(20000, 0.4, 1e-4, generator=g)
    assert t.min() >= 1e-4 and t.max() <= 0.4
    assert t.mean().item() == pytest.approx((0.4 + 1e-4) / 2, abs=0.005)
    skewed = sample_times(20000, 0.4, 1e-4, power=3.0, generator=g)
    assert skewed.mean() < t.mean() - 0.05  # power > 1 pushes t towards t_min
    with pytest.raises(ValueError):
        sample_times(4, 0.4, 0.5)
    with pytest.raises(ValueError):
        sample_times(4, 0.4, power=0)


def test_mix_predictions_average():
    x = torch.randn(2, 3)
    t = torch.full((2,), 0.2)
    a, b = (lambda x, t: x + 1), (lambda x, t: 3 * x)
    assert torch.allclose(mix_predictions([a, b])(x, t), 0.5 * (x + 1) + 0.5 * (3 * x))
    assert torch.allclose(mix_predictions([a, b], [3, 1])(x, t), 0.75 * (x + 1) + 0.25 * (3 * x))
    # Averaging x0 predictions equals averaging velocities (x0 = x - t v).
    va, vb = (x - a(x, t)) / 0.2, (x - b(x, t)) / 0.2
    assert torch.allclose(mix_predictions([a, b])(x, t), x - 0.2 * (va + vb) / 2, atol=1e-6)
    for bad in ([], None), ([a], [1, 2]), ([a, b], [-1, 2]), ([a, b], [0, 0]):
        with pytest.raises(ValueError):
            mix_predictions(*bad)


def test_naive_velocity_target_recovers_clean_and_grows_like_one_over_t():
    from unlock_restore.bridge import naive_velocity_target

    x0, y, e = _pair()
    for t in (1e-4, 1e-2, 0.4):
        x_t = naive_state(y, e, t)
        assert torch.allclose(x_t - t * naive_velocity_target(x0, y, e, t), x0, atol=1e-10)
    # The naive target is unbounded as t -> 0 (the clean latent is not on its path); the bridge's stays bounded.
    naive = [naive_velocity_target(x0, y, e, t).abs().max().item() for t in (1e-2, 1e-3, 1e-4)]
    bridge = [velocity_target(x0, y, e, t, 0.4).abs().max().item() for t in (1e-2, 1e-3, 1e-4)]
    assert naive[2] > 9 * naive[1] > 81 * naive[0] and max(bridge) < 2 * min(bridge)


@pytest.mark.parametrize("objective", ["bridge", "naive"])
def test_velocity_loss_is_the_x0_loss_over_t_squared_per_sample(objective):
    """The velocity weighting, computed from the path's exact velocity target, equals the x0 error divided by t^2
    for every sample, and the batch loss is their mean."""
    x0, y, e = _pair(shape=(3, 4, 8, 8))
    t = torch.tensor([1e-4, 0.05, 0.37], dtype=torch.float64)
    g = torch.Generator().manual_seed(9)
    bias = 0.1 * torch.randn(x0.shape, generator=g, dtype=torch.float64)

    def x0_hat(x, _t):
        return 0.5 * x + bias

    per_sample = []
    for i in range(3):
        sl = slice(i, i + 1)
        kw = dict(t0=0.4, objective=objective, t=t[sl], noise=e[sl])
        x0_loss = bridge_loss(lambda x, tt: 0.5 * x + bias[sl], x0[sl], y[sl], **kw)
        v_loss = bridge_loss(lambda x, tt: 0.5 * x + bias[sl], x0[sl], y[sl], loss="velocity", **kw)
        assert math.isclose(float(v_loss), float(x0_loss) / float(t[i]) ** 2, rel_tol=1e-9)
        per_sample.append(float(v_loss))
    batch = bridge_loss(x0_hat, x0, y, 0.4, objective=objective, t=t, noise=e, loss="velocity")
    assert math.isclose(float(batch), sum(per_sample) / 3, rel_tol=1e-9)
    with pytest.raises(ValueError, match="loss must be one of"):
        bridge_loss(x0_hat, x0, y, 0.4, t=t, noise=e, loss="eps")


@pytest.mark.parametrize("loss", ["x0", "velocity"])
@pytest.mark.parametrize("objective", ["bridge", "naive"])
def test_both_weightings_have_exact_gradients(objective, loss):
    """dL/dtheta of a small differentiable denoiser by autograd equals central finite differences (float64)."""
    x0, y, e = _pair(shape=(2, 4, 8, 8))
    t = torch.tensor([0.003, 0.3], dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    theta = (0.1 * torch.randn(4, 4, generator=g, dtype=torch.float64)).requires_grad_(True)

    def loss_at(th):
        return bridge_loss(lambda x, tt: x + torch.einsum("ij,bjhw->bihw", th, x) * (1 + tt.view(-1, 1, 1, 1)),
                           x0, y, 0.4, objective=objective, t=t, noise=e, loss=loss)

    loss_at(theta).backward()
    v = torch.randn(theta.shape, generator=g, dtype=torch.float64)
    eps = 1e-6
    with torch.no_grad():
        numeric = (loss_at(theta + eps * v) - loss_at(theta - eps * v)) / (2 * eps)
    analytic = (theta.grad * v).sum()
    assert abs(float(numeric)) > 1e-6
    assert math.isclose(float(analytic), float(numeric), rel_tol=1e-6)
