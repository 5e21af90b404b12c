"""Statistics of the reproduction benchmarks (pure numpy, no ComfyUI): a hierarchical bootstrap for paired
differences grouped by source photo.

Tiles cut from one photo are not independent samples: a photo that suits one arm gives every one of its tiles the
same lean. The hierarchical bootstrap resamples photos with replacement first, then tiles within each drawn photo,
so the interval reflects how many photos the claim rests on, not only how many tiles were cut from them.
"""
from __future__ import annotations

import numpy as np


def hierarchical_bootstrap(groups: dict[str, list[float]], n_boot: int = 4000, seed: int = 0,
                           level: float = 0.95) -> dict:
    """Mean of all values (each group weighted by its size, as a plain mean over tiles) and its bootstrap
    interval: `groups` maps a group (photo) to its values (per-tile differences). Deterministic for a seed."""
    names = sorted(groups)
    if not names or any(len(groups[n]) == 0 for n in names):
        raise ValueError("hierarchical_bootstrap: every group needs at least one value")
    values = [np.asarray(groups[n], dtype=np.float64) for n in names]
    if not all(np.isfinite(v).all() for v in values):
        raise ValueError("hierarchical_bootstrap: non-finite values")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for b in range(n_boot):
        drawn = rng.integers(len(values), size=len(values))
        total, count = 0.0, 0
        for g in drawn:
            v = values[g]
            pick = v[rng.integers(len(v), size=len(v))]
            total += pick.sum()
            count += len(pick)
        means[b] = total / count
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    flat = np.concatenate(values)
    return {"mean": float(flat.mean()), "ci": [float(lo), float(hi)], "level": level, "n_groups": len(values),
            "n_values": int(flat.size), "n_boot": n_boot, "seed": seed}
