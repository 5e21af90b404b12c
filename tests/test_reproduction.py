"""Tier 2: the reproduction experiment (benchmarks/reproduce.py) end to end in --quick mode: a tiny untrained
FLUX, two training steps per arm, two sampler steps. Checks the code path and the report, not the science."""
import json
import math
import subprocess
import sys

from harness.host import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import reproduce  # noqa: E402


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
