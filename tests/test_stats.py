"""Tier 1: the reproduction's statistics (benchmarks/stats.py): the hierarchical bootstrap over photos and tiles."""
import importlib.util

import numpy as np
import pytest

from harness.host import REPO

_spec = importlib.util.spec_from_file_location("unlock_benchmark_stats", REPO / "benchmarks" / "stats.py")
stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stats)


def test_the_interval_is_deterministic_and_holds_the_mean():
    rng = np.random.default_rng(1)
    groups = {f"photo{i}": list(rng.normal(0.5 + 0.2 * i, 0.3, size=8)) for i in range(5)}
    a = stats.hierarchical_bootstrap(groups, seed=3)
    assert a == stats.hierarchical_bootstrap(groups, seed=3)
    assert a["ci"][0] < a["mean"] < a["ci"][1]
    assert a["mean"] == pytest.approx(np.mean(np.concatenate(list(groups.values()))))
    assert (a["n_groups"], a["n_values"]) == (5, 40)


def test_photo_to_photo_spread_widens_the_interval():
    """The same 40 values: as 40 independent tiles, or as 5 photos whose tiles lean together. The interval must
    reflect that only 5 photos carry the claim."""
    rng = np.random.default_rng(2)
    lean = rng.normal(0, 1.0, size=5)
    values = np.concatenate([lean[i] + rng.normal(0, 0.1, size=8) for i in range(5)])
    grouped = stats.hierarchical_bootstrap({f"p{i}": list(values[8 * i:8 * i + 8]) for i in range(5)}, seed=0)
    independent = stats.hierarchical_bootstrap({f"t{i}": [v] for i, v in enumerate(values)}, seed=0)
    width = lambda r: r["ci"][1] - r["ci"][0]  # noqa: E731
    assert grouped["mean"] == pytest.approx(independent["mean"])
    assert width(grouped) > 1.8 * width(independent), (width(grouped), width(independent))


def test_constant_values_give_a_point_interval_and_bad_input_is_refused():
    r = stats.hierarchical_bootstrap({"a": [0.25, 0.25], "b": [0.25]}, n_boot=50)
    assert r["ci"] == [pytest.approx(0.25), pytest.approx(0.25)]
    with pytest.raises(ValueError, match="at least one value"):
        stats.hierarchical_bootstrap({"a": []})
    with pytest.raises(ValueError, match="non-finite"):
        stats.hierarchical_bootstrap({"a": [1.0, float("nan")]})


def test_crossed_bootstrap_with_one_run_is_the_photo_and_tile_bootstrap():
    """One run: the same interval as hierarchical_bootstrap up to resampling noise; deterministic for a seed."""
    rng = np.random.default_rng(5)
    photos = [f"p{i}" for i in range(5) for _ in range(8)]
    values = list(rng.normal(0.3, 0.5, size=40))
    crossed = stats.crossed_bootstrap({"s0": values}, photos, seed=1)
    assert crossed == stats.crossed_bootstrap({"s0": values}, photos, seed=1)
    grouped = stats.hierarchical_bootstrap({p: [v for v, q in zip(values, photos) if q == p] for p in set(photos)})
    assert crossed["mean"] == pytest.approx(grouped["mean"])
    assert crossed["ci"] == pytest.approx(grouped["ci"], abs=0.05)
    assert (crossed["n_runs"], crossed["n_groups"], crossed["n_values"]) == (1, 5, 40)


def test_runs_that_disagree_widen_the_interval():
    """Three training runs scored on the same 40 tiles, each with its own lean: pooling their tiles would hide the
    run-to-run spread; resampling the runs shows it (and a run that goes the other way pulls the interval over 0)."""
    rng = np.random.default_rng(6)
    photos = [f"p{i}" for i in range(5) for _ in range(8)]
    tile = rng.normal(0, 0.05, size=40)
    runs = {"s0": list(0.35 + tile), "s1": list(-0.05 + tile), "s2": list(0.6 + tile)}
    crossed = stats.crossed_bootstrap(runs, photos)
    pooled = stats.hierarchical_bootstrap({p: [v for r in runs.values() for v, q in zip(r, photos) if q == p]
                                           for p in set(photos)})
    assert crossed["mean"] == pytest.approx(pooled["mean"]) == pytest.approx(0.3, abs=0.02)
    assert pooled["ci"][0] > 0 > crossed["ci"][0]
    with pytest.raises(ValueError, match="one value per unit"):
        stats.crossed_bootstrap({"s0": [1.0, 2.0], "s1": [1.0]}, ["a", "a"])
    with pytest.raises(ValueError, match="non-finite"):
        stats.crossed_bootstrap({"s0": [1.0, float("nan")]}, ["a", "b"])
