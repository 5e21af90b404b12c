"""Statistics of the reproduction benchmarks (pure numpy, no ComfyUI): a hierarchical bootstrap for paired
differences grouped by source photo.

Tiles cut from one photo are not independent samples: a photo that suits one arm gives every one of its tiles the
same lean. The hierarchical bootstrap resamples photos with replacement first, then tiles within each drawn photo,
so the interval reflects how many photos the claim rests on, not only how many tiles were cut from them. Where
several training runs (seeds) are scored on the same tiles, crossed_bootstrap also resamples the runs, so a claim
that one seed carries does not look certain.
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


def crossed_bootstrap(runs: dict[str, list[float]], unit_groups: list[str], n_boot: int = 4000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Mean and bootstrap interval of paired differences from several training runs (seeds) scored on the same
    units (tiles): `runs` maps a run to its per-unit differences, `unit_groups` names each unit's photo. Runs and
    units are crossed (every run is scored on every unit), so each replicate resamples the runs with replacement
    and, independently, the photos and then the units within each drawn photo, and averages over both draws. The
    interval thus reflects how many runs the claim rests on as well as how many photos; with one run it is
    hierarchical_bootstrap's. Deterministic for a seed."""
    names = sorted(runs)
    if not names:
        raise ValueError("crossed_bootstrap: needs at least one run")
    if not unit_groups or any(len(runs[n]) != len(unit_groups) for n in names):
        raise ValueError(f"crossed_bootstrap: every run needs one value per unit ({len(unit_groups)} units)")
    table = np.asarray([runs[n] for n in names], dtype=np.float64)  # (runs, units)
    if not np.isfinite(table).all():
        raise ValueError("crossed_bootstrap: non-finite values")
    photos = sorted(set(unit_groups))
    members = [np.flatnonzero(np.asarray(unit_groups) == p) for p in photos]
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for b in range(n_boot):
        rows = rng.integers(len(names), size=len(names))
        units = np.concatenate([members[g][rng.integers(len(members[g]), size=len(members[g]))]
                                for g in rng.integers(len(photos), size=len(photos))])
        means[b] = table[np.ix_(rows, units)].mean()
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": float(table.mean()), "ci": [float(lo), float(hi)], "level": level, "n_runs": len(names),
            "n_groups": len(photos), "n_values": int(table.shape[1]), "n_boot": n_boot, "seed": seed}
