"""Tier 2: the reproduction experiment (benchmarks/reproduce.py) end to end in --quick mode: a tiny untrained
FLUX, two training steps per arm, two sampler steps; the prior gate (benchmarks/prior_gate.py) and the resumable
pretraining (benchmarks/small_model/pretrain.py) the same way. Checks the code paths and the reports, not the
science."""
import json
import math
import subprocess
import sys

import pytest

from harness.host import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import reproduce  # noqa: E402  (puts benchmarks/small_model on sys.path too)
import photos  # noqa: E402


def test_quick_reproduction_reports_every_arm(comfyui_path, tmp_path):
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "reproduce.py"), "--quick", "--comfyui",
                    str(comfyui_path), "--out-dir", str(tmp_path)], check=True, timeout=300)
    r = json.loads((tmp_path / reproduce.JSON_PATH).read_text())
    md = (tmp_path / reproduce.MD_PATH).read_text()

    assert list(r["degradations"]) == list(reproduce.DEGRADATIONS)
    for name, d in r["degradations"].items():
        assert set(d["arms"]) == set(reproduce.ARMS), name
        for arm, v in d["arms"].items():
            assert math.isfinite(v["psnr"]) and 0 < v["psnr"] < 100 and -1 <= v["ssim"] <= 1, (name, arm)
            assert [p["image"] for p in v["per_image"]] == list(r["images"]["held_out"])
        for arm, t in d["training"].items():
            # The pack's trainer ran: the prompt moved from its N(0, 0.02^2) init and the gates from 0.
            assert math.isfinite(t["held_loss_before"]) and math.isfinite(t["held_loss_after"]), (name, arm)
            assert t["prompt_rms"] > 0 and (t["gates_abs_mean"] is None) == (arm == "bridge_context")
            assert arm == "bridge_context" or t["gates_abs_mean"] > 0
        assert list(d["steps_curve"]) == [str(s) for s in reproduce.QUICK["curve"]]
        x = d["resolution_transfer"]
        assert x["size"] != r["settings"]["eval_size"] and x["size"].split("x")[0] == str(reproduce.QUICK["transfer_short"])
        assert all(math.isfinite(x[a]["psnr"]) for a in ("degraded", "unprompted", "bridge_gated")), name
        # The markdown is generated from the JSON: its row carries these exact numbers.
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} ("))
        assert all(f"{d['arms'][a]['psnr']:.2f}" in row and f"{d['arms'][a]['ssim']:.3f}" in row
                   for a in reproduce.ARMS), row
    # Degradations really differ (five distinct degraded inputs), and nothing was evaluated on training photos.
    assert len({round(d["arms"]["degraded"]["psnr"], 4) for d in r["degradations"].values()}) == 5
    assert not set(r["images"]["train"]) & set(r["images"]["held_out"])
    assert {"degraded", "unprompted", "average", "blend"} <= set(r["mixing"]["arms"])
    assert all(math.isfinite(v["psnr"]) for v in r["mixing"]["arms"].values())
    assert set(r["summary"]["mean"]) == set(reproduce.ARMS)
    assert math.isfinite(r["ceiling"]["psnr"]) and f"{r['ceiling']['psnr']:.2f}" in md
    grid = tmp_path / reproduce.GRID_PATH
    assert grid.read_bytes()[:2] == b"\xff\xd8" and grid.stat().st_size < 300_000
    # --render-only regenerates the identical markdown from the JSON alone.
    (tmp_path / reproduce.MD_PATH).unlink()
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "reproduce.py"), "--render-only", "--out-dir",
                    str(tmp_path)], check=True, timeout=60)
    assert (tmp_path / reproduce.MD_PATH).read_text() == md


def test_committed_reproduction_docs_match_the_json():
    """docs/reproduction.md is exactly what --render-only makes from benchmarks/results/reproduction.json, and the
    committed run used the full settings (not --quick) with every arm, the mixing and the step curve."""
    r = json.loads((REPO / reproduce.JSON_PATH).read_text())
    assert (REPO / reproduce.MD_PATH).read_text() == reproduce.render_markdown(r)
    assert r["settings"]["command"] == "python benchmarks/reproduce.py"
    assert {k: r["settings"][k] for k in reproduce.FULL} == {k: (list(v) if isinstance(v, tuple) else v)
                                                             for k, v in reproduce.FULL.items()}
    assert list(r["degradations"]) == list(reproduce.DEGRADATIONS)
    assert all(set(d["arms"]) == set(reproduce.ARMS) for d in r["degradations"].values())
    assert list(next(iter(r["degradations"].values()))["steps_curve"]) == [str(s) for s in reproduce.FULL["curve"]]
    assert {"average", "blend", "unprompted"} <= set(r["mixing"]["arms"])
    assert (REPO / reproduce.GRID_PATH).read_bytes()[:2] == b"\xff\xd8"


def test_the_prior_gates_nlm_sees_exactly_the_noise_it_is_told(comfy_host):
    """prior_gate.py gives non-local means the noisy tile x_t / (1 - t) decoded and tells it sigma =
    t / (2 SPREAD (1 - t)): the fixed latent is orthonormal up to SPREAD, so that is the pixel noise, exactly."""
    import torch

    import prior_gate
    import smallflux

    latent = smallflux.PixelLatent()
    clean = torch.rand(4, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    for t in (0.05, 0.2, 0.4, 0.6):
        x0 = latent.to_model_space(clean)
        x_t = (1 - t) * x0 + t * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
        noise = latent.from_model_space(x_t / (1 - t)) - clean
        sigma = t / (2 * smallflux.SPREAD * (1 - t))
        assert abs(float(noise.mean())) < 0.02 * sigma and float(noise.std()) == pytest.approx(sigma, rel=0.02)
    tiles = prior_gate.held_out_tiles(2, 32)
    assert list(tiles) == photos.HELD_OUT_V2 and not set(tiles) & set(photos.TRAIN_V2)
    assert all(v.shape == (2, 32, 32, 3) for v in tiles.values())


def test_quick_prior_gate_reports_every_t(comfyui_path, tmp_path):
    import prior_gate

    out = tmp_path / "gate.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "prior_gate.py"), "--quick", "--comfyui",
                    str(comfyui_path), "--out", str(out), "--threads", "1"], check=True, timeout=300)
    r = json.loads(out.read_text())
    assert list(r["per_t"]) == [f"{t:g}" for t in prior_gate.QUICK["ts"]]
    for t, row in r["per_t"].items():
        m = row["margin_db"]
        assert all(math.isfinite(v) for v in (row["model_psnr"], row["nlm_psnr"], m["mean"], *m["ci"])), t
        assert row["nlm_h_over_sigma"] in prior_gate.NLM_H
        assert row["nlm_psnr"] == max(row["nlm_psnr_by_h"].values())  # the oracle h: NLM at its best
        assert m["mean"] == pytest.approx(row["model_psnr"] - row["nlm_psnr"], abs=2e-3)
        assert m["ci"][0] <= m["mean"] <= m["ci"][1] and m["n_groups"] == len(photos.HELD_OUT_V2)
        assert set(row["per_photo_margin_db"]) == set(photos.HELD_OUT_V2)
    # An untrained model is no denoiser: the gate must say so (a gate that cannot fail would pass it).
    assert r["gate"]["passed"] is False and set(r["gate"]["passed_at"]) <= {f"{t:g}" for t in prior_gate.GATE_T}


def test_pretraining_resumes_to_the_same_weights(comfyui_path, tmp_path):
    """pretrain.py stopped after 3 of 6 steps and rerun ends with the weights and training state of an
    uninterrupted run, bit for bit; the file records the recipe and the photos."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    script = str(REPO / "benchmarks" / "small_model" / "pretrain.py")
    base = [sys.executable, script, "--quick", "--recipe", "v2", "--stages", "8:6", "--threads", "1",
            "--comfyui", str(comfyui_path)]
    subprocess.run(base + ["--out", str(tmp_path / "a.safetensors")], check=True, timeout=300)
    subprocess.run(base + ["--out", str(tmp_path / "b.safetensors"), "--stop-after", "3"], check=True, timeout=300)
    assert safe_open(str(tmp_path / "b.state.safetensors"), "pt").metadata()["step"] == "3"
    subprocess.run(base + ["--out", str(tmp_path / "b.safetensors")], check=True, timeout=300)
    for name in ("{}.safetensors", "{}.state.safetensors"):
        a, b = (load_file(str(tmp_path / name.format(x))) for x in "ab")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    meta = safe_open(str(tmp_path / "b.safetensors"), "pt").metadata()
    assert meta["steps"] == "6" and meta["stages"] == "8:6"
    assert list(json.loads(meta["images"])) == photos.TRAIN_V2
    assert len(json.loads(safe_open(str(tmp_path / "b.state.safetensors"), "pt").metadata()["losses"])) == 6
