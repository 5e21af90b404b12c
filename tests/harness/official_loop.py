"""The official YPT sampling loop and time index, written independently of the pack (tests and benchmarks).

From the official code (github.com/sudraj2002/YPT, utils.py and model_prompts.py) on diffusers' own scheduler
objects: the nearest-sigma index into the network, the continuous t in the bridge algebra.
"""
from __future__ import annotations

import contextlib
import functools

import pytest
import torch

STEPS, T0, T_MIN = 20, 0.4, 1e-4  # the official defaults: 20 evaluations from t0 = 0.4


@functools.cache
def schedulers():
    diffusers = pytest.importorskip("diffusers", reason="!!! diffusers (tests/requirements.txt) is not installed: "
                                                        "the official grids cannot be checked !!!")
    flux = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    flux.set_timesteps(1000, mu=None, sigmas=None)  # official inference.py:326
    wan = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            num_train_timesteps=1000, flow_shift=1.0)  # model_prompts.py:215
    wan.set_timesteps(1000)
    return {"flux": flux, "wan21": wan}


def official_network_time(arch: str, t: torch.Tensor) -> torch.Tensor:
    """Written from the official code, on diffusers' scheduler objects: make_model_input's nearest-sigma index
    (clamped to the last timestep), then what forward_unet passes (FLUX: timestep / 1000; Wan: the int64)."""
    sched = schedulers()[arch]
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    k = (sched.sigmas.view(1, -1) - t.view(-1, 1)).abs().argmin(dim=1).clamp(max=len(sched.timesteps) - 1)
    idx = sched.timesteps.index_select(0, k)
    return idx.to(torch.float32) / 1000.0 if arch == "flux" else idx.to(torch.float32)


@contextlib.contextmanager
def record_time_embeddings(patcher):
    """Every time embedding the diffusion model computes (the input of FLUX's time_in / Wan's time_embedding), in
    call order. Recorded inside the network, so whatever wraps it (ours, other packs') is seen through."""
    dm = patcher.get_model_object("diffusion_model")
    module = dm.time_in if hasattr(dm, "time_in") else dm.time_embedding
    seen: list[torch.Tensor] = []
    handle = module.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().float().clone()))
    try:
        yield seen
    finally:
        handle.remove()


def time_embedding(patcher, t: torch.Tensor) -> torch.Tensor:
    """The host's embedding of network time(s) `t` (what record_time_embeddings sees for that input)."""
    dm = patcher.get_model_object("diffusion_model")
    if hasattr(dm, "time_in"):
        from comfy.ldm.flux.layers import timestep_embedding

        return timestep_embedding(t, 256).float()
    from comfy.ldm.wan.model import sinusoidal_embedding_1d

    return sinusoidal_embedding_1d(dm.freq_dim, t.flatten()).float()


def assert_times(patcher, seen, times, what):
    assert len(seen) == len(times), f"{what}: {len(seen)} network calls, expected {len(times)}"
    for i, (emb, t) in enumerate(zip(seen, times)):
        want = time_embedding(patcher, torch.tensor([float(t)]))
        torch.testing.assert_close(emb[:1], want, atol=1e-6, rtol=0, msg=lambda m: f"{what}, call {i}: {m}")


def official_loop(network, y, noise, arch, steps=STEPS, t0=T0, t_min=T_MIN):
    """The official sampler (utils.py ebr_custom_multistep_sample) written out: x0 = x - t v with the continuous
    t, v from the network at the scheduler timestep of t; the noise re-estimated each step; a final evaluation
    at t_min."""
    ts = torch.linspace(t0, t_min, steps, dtype=torch.float32)
    x = (1.0 - t0) * y + t0 * noise

    def x0_hat(x, t):
        return x - t * network(x, t, official_network_time(arch, t))

    for i in range(steps - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x0 = x0_hat(x, t)
        coef_x0, a = (1 - t) * (1 - t / t0), (1 - t) * (t / t0)
        e_hat = (x - coef_x0 * x0 - a * y) / max(t, t_min, 1e-6)
        x = (1 - t_next) * ((1 - t_next / t0) * x0 + (t_next / t0) * y) + t_next * e_hat
    return x0_hat(x, float(ts[-1])), ts


def host_network(base, cond, y):
    """v(x, t) from the host's diffusion model given the network time `net_t` directly (no pack code): the host's
    apply_model computes x - sigma * out, so out = (x - apply_model) / sigma at the continuous sigma, with a test
    wrapper that hands the diffusion model `net_t`."""
    import comfy.patcher_extension

    conds = base.extra_conds(noise=y, device=torch.device("cpu"), cross_attn=cond[0][0], **cond[0][1])
    kw = {k: v.cond for k, v in conds.items()}

    def v(x, t, net_t):
        def swap(executor, x_, timestep, *a, **k):
            return executor(x_, net_t.to(timestep), *a, **k)
        opts = {"wrappers": {comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL: {"test": [swap]}}}
        sigma = torch.tensor([t])
        with torch.no_grad():
            return (x - base.apply_model(x, sigma, transformer_options=opts, **kw)) / t
    return v


