"""Tier 1: two-expert bridges (bridge/experts.py). Running the schedule in a high-noise part and a low-noise part,
the second from the state the first ended in, is exactly one run that switches denoisers at the boundary."""
import pytest
import torch

from unlock_restore.bridge import expert_denoiser, expert_times, sample_bridge, split_schedule, time_grid


def _denoiser(scale, seen, name):
    def x0_hat(x, t):
        seen.append((name, float(t[0])))
        return scale * x + 0.1 * t.view(-1, 1, 1, 1)
    return x0_hat


def _case(seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64)
    e = torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64)
    return y, e


@pytest.mark.parametrize("boundary", [0.875, 0.5, 0.95])
def test_split_parts_equal_one_switching_run(boundary):
    y, e = _case()
    sigmas = time_grid(0.97, 9).double()
    seen_whole, seen_parts = [], []
    whole = sample_bridge(expert_denoiser(_denoiser(0.7, seen_whole, "high"), _denoiser(0.3, seen_whole, "low"),
                                          boundary), y, e, sigmas)
    high, low = split_schedule(sigmas, boundary)
    assert high is not None and low is not None and float(high[-1]) == float(low[0]) < boundary <= float(high[-2])
    mid = sample_bridge(_denoiser(0.7, seen_parts, "high"), y, e, high, t0=float(sigmas[0]))
    out = sample_bridge(_denoiser(0.3, seen_parts, "low"), y, None, low, x=mid, t0=float(sigmas[0]))
    assert torch.equal(out, whole)
    assert seen_parts == seen_whole and len(seen_whole) == 9
    # The official rule, per evaluation: high at t >= boundary, low below.
    assert all((name == "high") == (t >= boundary) for name, t in seen_whole)
    assert {name for name, _ in seen_whole} == {"high", "low"}


def test_a_bridge_below_the_boundary_never_meets_the_high_expert():
    sigmas = time_grid(0.4, 5)
    high, low = split_schedule(sigmas, 0.875)
    assert high is None and torch.equal(low, sigmas)
    high, low = split_schedule(time_grid(0.9, 3, t_min=0.88), 0.875)
    assert low is None and high.shape[0] == 4  # every evaluation is high; the last step goes to 0


def test_boundary_on_a_grid_time_belongs_to_the_high_expert():
    sigmas = torch.tensor([0.9, 0.875, 0.5, 0.0], dtype=torch.float64)
    high, low = split_schedule(sigmas, 0.875)
    assert high.tolist() == [0.9, 0.875, 0.5] and low.tolist() == [0.5, 0.0]


def test_a_part_of_the_bridge_needs_its_start_state_and_t0():
    y, e = _case()
    with pytest.raises(ValueError, match="exactly 0"):
        sample_bridge(lambda x, t: x, y, e, torch.tensor([0.9, 0.5]))  # a part, but no t0
    with pytest.raises(ValueError, match="start state"):
        sample_bridge(lambda x, t: x, y, e, torch.tensor([0.5, 0.0]), t0=0.9)
    with pytest.raises(ValueError, match="above the bridge's T0"):
        sample_bridge(lambda x, t: x, y, e, torch.tensor([0.95, 0.0]), x=y, t0=0.9)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        split_schedule(time_grid(0.9, 3), 1.0)


def test_training_times_per_expert():
    assert expert_times("all", 0.95, 0.875) == (1e-4, 0.95)
    assert expert_times("high_noise", 0.95, 0.875) == (0.875, 0.95)
    assert expert_times("low_noise", 0.95, 0.875) == (1e-4, 0.875)
    assert expert_times("low_noise", 0.4, 0.875) == (1e-4, 0.4)
    with pytest.raises(ValueError, match="raise t0 above 0.875"):
        expert_times("high_noise", 0.4, 0.875)
    with pytest.raises(ValueError, match="expert must be one of"):
        expert_times("both", 0.4, 0.875)
