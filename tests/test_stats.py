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
