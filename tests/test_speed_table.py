"""Tier 2: benchmarks/speed_table.py end to end at --quick, one repetition (a smoke run on the tiny checkpoints).

What its output must be, not how fast anything is: machines are shared and noisy, so nothing here is timed.
"""
import functools
import importlib.util
import json
import math
import subprocess
import sys

import pytest

from harness.host import REPO

SAMPLING_PAIRS = ("bridge_vs_euler", "patched_forward", "average_vs_blend")
TRAINING_PAIRS = ("prompt_vs_lora", "prompt_vs_lora_ckpt")


@functools.cache
def _speed_table():
    spec = importlib.util.spec_from_file_location("unlock_speed_table", REPO / "benchmarks" / "speed_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(comfyui_path, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("speed-table")
    json_path, docs = out / "speed_table.json", out / "speed.md"
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "speed_table.py"), "--comfyui", str(comfyui_path),
                          "--quick", "--repeats", "1", "--out", str(json_path), "--docs", str(docs)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return json.loads(json_path.read_text()), docs.read_text()


def test_every_pair_is_present(quick_run):
    record, _ = quick_run
    trained = [s.model for s in _speed_table().PROFILES["quick"].shapes if s.train_size]
    expected = {f"{p}_{m}" for p in SAMPLING_PAIRS for m in ("flux", "wan21")}
    expected |= {f"{p}_{m}" for p in TRAINING_PAIRS for m in trained}
    assert trained and {p["name"] for p in record["pairs"]} == expected
    for p in record["pairs"]:
        wanted = {"seconds", "peak_bytes"} if p["name"].startswith(TRAINING_PAIRS) else {"seconds"}
        assert set(p["metrics"]) == wanted, p["name"]


def test_medians_and_ratios(quick_run):
    record, _ = quick_run
    assert record["repeats"] == 1 and record["full_size_run"] is False
    for p in record["pairs"]:
        for name, m in p["metrics"].items():
            a, b = m["a"], m["b"]
            for arm in (a, b):
                assert len(arm["values"]) == record["repeats"]
                assert math.isfinite(arm["median"]) and arm["min"] <= arm["median"] <= arm["max"]
                if name == "seconds":
                    assert arm["median"] > 0, (p["name"], arm)
            if m["ratio"] is None:  # only a CPU memory growth of 0 bytes leaves a ratio undefined
                assert name == "peak_bytes" and a["median"] <= 0
                continue
            assert m["ratio"] == pytest.approx(b["median"] / a["median"], rel=1e-12)
            assert m["ratio_min"] <= m["ratios"][0] <= m["ratio_max"]


def test_docs_table_is_generated_from_the_json(quick_run):
    record, docs = quick_run
    module = _speed_table()
    assert docs == module.render_markdown(record)
    rows = [line for line in docs.splitlines() if line.startswith("| ") and not line.startswith(("| pair", "| ---"))]
    assert len(rows) == sum(len(p["metrics"]) for p in record["pairs"])
    for p in record["pairs"]:
        for m in p["metrics"].values():
            assert any(p["pair"] in row and module.times(m["ratio"]) in row for row in rows), p["name"]
    assert record["command"] in docs and module.NO_FULL_SIZE in docs


def test_full_size_refuses_without_cuda(comfyui_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --full-size would run")
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "speed_table.py"), "--comfyui", str(comfyui_path),
                          "--full-size"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "needs a CUDA device" in run.stderr
