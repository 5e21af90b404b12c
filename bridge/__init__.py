"""E-Bridge math of the method (method.md), pure torch: usable with any denoiser x0_hat(x, t)."""
from .experts import EXPERTS, expert_denoiser, expert_times, split_schedule
from .objective import LOSSES, OBJECTIVES, bridge_loss, sample_times, training_states
from .sampler import bridge_step, mix_predictions, noise_estimate, sample_bridge, time_grid
from .states import (bridge_coefficients, bridge_state, expand_time, naive_state, naive_velocity_target,
                     velocity_target)

__all__ = [
    "EXPERTS", "expert_denoiser", "expert_times", "split_schedule",
    "LOSSES", "OBJECTIVES", "bridge_loss", "sample_times", "training_states",
    "bridge_step", "mix_predictions", "noise_estimate", "sample_bridge", "time_grid",
    "bridge_coefficients", "bridge_state", "expand_time", "naive_state", "naive_velocity_target", "velocity_target",
]
