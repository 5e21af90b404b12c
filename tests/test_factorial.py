"""The factorial of issue 15 (benchmarks/factorial.py). Tier 1: its metric, classical baseline, plan and statistics
on numbers whose answer is known. Tier 2: the whole code path in --quick mode (a tiny untrained FLUX), stopped and
resumed. Checks the machinery, not the science (the science is the committed job files and report)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness.host import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import factorial  # noqa: E402  (puts benchmarks/small_model on sys.path too)

Q = factorial.QUICK


def test_gmsd_is_zero_for_identical_images_and_grows_with_distortion():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3))
    assert factorial.gmsd(img, img) == 0.0
    mild = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
    strong = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1)
    assert 0 < factorial.gmsd(mild, img) < factorial.gmsd(strong, img)


def test_the_lookup_table_learns_a_tone_curve_from_pairs():
    """A global, monotone tone change (what low light and haze mostly are) is what a lookup table can undo."""
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(8, 24, 24, 3, generator=g)
    dark = 0.3 * clean ** 1.5
    table = factorial.ToneTable(clean, dark)
    fresh = torch.rand(2, 24, 24, 3, generator=g)
    err_before = float((0.3 * fresh ** 1.5 - fresh).abs().mean())
    err_after = float((table(0.3 * fresh ** 1.5) - fresh).abs().mean())
    assert err_after < 0.02 < err_before


def test_verdict_reads_the_interval_against_zero_and_the_margin():
    m = factorial.MARGIN_DB
    assert factorial.verdict([0.1, 0.9]) == "confirms"
    assert factorial.verdict([-0.9, -0.1]) == "refutes"
    assert factorial.verdict([-m / 2, m / 2]) == "refutes"  # equivalent: no advantage worth the name
    assert factorial.verdict([-0.5, 0.6]) == "inconclusive"


def test_the_plan_sweeps_learning_rates_before_seeds_and_counts_every_job():
    todo = factorial.plan(Q, {})
    names = [j["name"] for j in todo]
    assert names[:2] == ["clean__none", "range__motion_blur"]
    assert all(n.startswith("baseline__") for n in names[2:2 + len(Q["degradations"])])
    # Nothing for a later seed until its sweep is done.
    assert not [j for j in todo if j.get("seed", 0) != Q["seeds"][0]]
    done = {n: _fake(j) for n, j in zip(names, todo)}
    later = factorial.plan(Q, done)
    assert later and all(j["seed"] != Q["seeds"][0] for j in later)
    for j in later:  # each at its sweep's pick, which _fake makes the highest learning rate
        assert j["lr"] == max(Q["lrs"])
    assert len(todo) + len(later) == factorial.total_jobs(Q)
    assert factorial.plan(Q, {**done, **{j["name"]: _fake(j) for j in later}}) == []


def _fake(job, bridge_gain=1.0, velocity_gain=0.0):
    """A synthetic job result: naive scores 20 dB on every tile; bridge (x0 weighting) scores 20 + bridge_gain,
    bridge (velocity weighting) 20 + velocity_gain. Validation favours bridge/x0 with the bridge sampler and
    naive/velocity with Euler, and the highest lr."""
    n_tiles = len(factorial.photos.HELD_OUT_V2) * Q["tiles_per_photo"]
    n_whole = len(factorial.photos.HELD_OUT_V2)

    def scored(psnr):
        return {"tiles": {"psnr": [psnr] * n_tiles, "ssim": [0.5] * n_tiles, "gmsd": [0.1] * n_tiles},
                "whole": {"psnr": [psnr] * n_whole, "ssim": [0.5] * n_whole, "gmsd": [0.1] * n_whole}}

    if job["kind"] == "clean":
        return {"job": job, "seconds": 1.0, "unprompted": {s: scored(25.0) for s in factorial.SAMPLERS}}
    if job["kind"] == "range":
        return {"job": job, "seconds": 1.0, "strength": 1.0, "degraded": {"tiles": scored(30.0)["tiles"]}}
    if job["kind"] == "baseline":
        return {"job": job, "seconds": 1.0, "degraded": scored(15.0), "lookup_table": scored(16.0),
                "unprompted": {s: scored(15.5) for s in factorial.SAMPLERS}}
    o, loss = job["objective"], job["loss"]
    base = 20.0 + {("bridge", "x0"): bridge_gain, ("bridge", "velocity"): velocity_gain}.get((o, loss), 0.0)
    val_bonus = {("bridge", "x0", "bridge"): 3, ("naive", "velocity", "euler"): 3}
    test, val = {}, {}
    for step in Q["log_steps"]:
        test[str(step)] = {s: scored(base) for s in factorial.SAMPLERS}
        val[str(step)] = {s: 10.0 + val_bonus.get((o, loss, s), 0) + job["lr"] for s in factorial.SAMPLERS}
    return {"job": job, "seconds": 1.0, "validation": val, "test": test,
            "diverged": {"rule": "non-finite loss"} if (o, loss) == ("naive", "velocity") else None}


def test_decide_changes_a_default_only_when_the_interval_lies_above_zero():
    m = factorial.MARGIN_DB
    assert factorial.decide("x0", "velocity", [0.01, 0.4]) == {"pick": "velocity", "change_default": True,
                                                              "reason": "better"}
    assert factorial.decide("x0", "velocity", [-0.4, -0.01])["reason"] == "default better"
    assert factorial.decide("x0", "velocity", [-m / 2, m / 2])["reason"] == "equivalent"
    assert factorial.decide("x0", "velocity", [-0.1, 0.6])["reason"] == "undecided"
    for ci in ([-0.4, -0.01], [-m / 2, m / 2], [-0.1, 0.6], [0.0, 0.3]):  # 0 inside or on the edge: it stays
        assert factorial.decide("x0", "velocity", ci)["pick"] == "x0"


def _all_jobs(fake=None, **gains):
    """Every job of the quick plan, run as the plan orders them, each result made by `fake` (default: _fake with
    `gains`)."""
    fake = fake or (lambda job: _fake(job, **gains))
    done = {}
    while True:
        todo = factorial.plan(Q, done)
        if not todo:
            return done
        done.update({j["name"]: fake(j) for j in todo})


def test_the_recommendation_reads_each_choice_off_its_own_contrast():
    """Bridge/x0 wins the primary contrast by 1 dB, but bridge/velocity beats bridge/x0 by another 1 dB on the held-out
    tiles (validation, which picks the primary arms, prefers x0): the objective stays, the weighting changes, and
    the samplers tie (equivalent), so the sampler stays; the prompt is read against the lookup table."""
    tile_photos = [p for p in factorial.photos.HELD_OUT_V2 for _ in range(Q["tiles_per_photo"])]
    rep = factorial.report(Q, _all_jobs(bridge_gain=1.0, velocity_gain=2.0), tile_photos)
    r = rep["recommendation"]
    assert rep["choices"]["bridge"]["loss"] == "x0"
    assert r["pick"] == {"objective": "bridge", "loss": "velocity", "sampler": "bridge"}
    assert r["defaults_change"] == ["loss"]
    steps = r["steps"]
    assert steps["objective"]["contrast"]["mean_db"] == pytest.approx(-1.0)  # naive - bridge
    assert steps["objective"]["reason"] == "default better"
    assert steps["loss"]["contrast"]["mean_db"] == pytest.approx(1.0) and steps["loss"]["reason"] == "better"
    assert steps["sampler"]["contrast"]["ci"] == pytest.approx([0.0, 0.0]) and steps["sampler"]["reason"] == \
        "equivalent"
    vo = r["versus_other_objective"]  # bridge/velocity/bridge (22) against naive's pick, velocity/euler (20)
    assert vo["rival"] == {"objective": "naive", "loss": "velocity", "sampler": "euler"}
    assert vo["mean_db"] == pytest.approx(2.0) and vo["ci"] == pytest.approx([2.0, 2.0])
    assert r["versus_classical"][Q["degradations"][0]] == {"prompt_psnr": 22.0, "best_classical": "lookup_table",
                                                           "classical_psnr": 16.0, "prompt_ahead": True}
    text = "\n".join(factorial.render(rep))
    assert "Loss weighting (Train node `loss`): **velocity**. velocity - x0 = +1.00 dB" in text
    assert "Defaults changed by this evidence: loss." in text
    assert "against the other objective at its validation pick (naive, velocity, euler sampler): +2.00 dB" in text
    # The naive objective ahead: the objective changes, and the weighting is then read within naive.
    rep = factorial.report(Q, _all_jobs(bridge_gain=-1.0, velocity_gain=-1.0), tile_photos)
    r = rep["recommendation"]
    assert r["pick"]["objective"] == "naive" and r["steps"]["objective"]["contrast"]["ci"] == pytest.approx([1, 1])
    assert r["steps"]["loss"]["contrast"]["compared"] == "naive objective, euler sampler"
    # Incomplete: no recommendation, and the document says so.
    part = dict(list(_all_jobs().items())[:-1])
    rep = factorial.report(Q, part, tile_photos)
    assert rep["recommendation"] is None
    assert any(line.startswith("**Recommendation:** none yet") for line in factorial.render(rep))


def test_a_gain_that_the_seeds_disagree_on_is_not_a_finding():
    """Bridge/x0 gains +1 dB at seed 0 and -1 dB at seed 1, the same on every tile: pooled over tiles alone the
    interval would be [0, 0] (equivalent); resampling the seeds too, it spans the margin, so no verdict is drawn."""
    tile_photos = [p for p in factorial.photos.HELD_OUT_V2 for _ in range(Q["tiles_per_photo"])]
    done = _all_jobs(lambda j: _fake(j, bridge_gain=1.0 if j.get("seed", 0) == Q["seeds"][0] else -1.0))
    p = factorial.report(Q, done, tile_photos)["primary"]
    assert p["complete"] and p["mean_db"] == pytest.approx(0.0)
    assert p["per_seed_mean_db"] == {str(Q["seeds"][0]): 1.0, str(Q["seeds"][1]): -1.0}
    assert p["ci"][0] < -factorial.MARGIN_DB and p["ci"][1] > factorial.MARGIN_DB
    assert factorial.verdict(p["ci"]) == "inconclusive"


def test_the_report_reads_known_numbers_back():
    tile_photos = [p for p in factorial.photos.HELD_OUT_V2 for _ in range(Q["tiles_per_photo"])]
    done = _all_jobs()
    rep = factorial.report(Q, done, tile_photos)
    assert rep["jobs"] == {"done": factorial.total_jobs(Q), "total": factorial.total_jobs(Q),
                           "seconds": float(factorial.total_jobs(Q))}
    # The weightings and sampler are chosen on validation, then the held-out contrast is read exactly.
    assert rep["choices"]["bridge"] == {"loss": "x0", "sampler": "bridge"}
    assert rep["choices"]["naive"] == {"loss": "velocity", "sampler": "euler"}
    p = rep["primary"]
    assert p["complete"] and p["mean_db"] == pytest.approx(1.0) and p["ci"] == pytest.approx([1.0, 1.0])
    assert rep["primary_whole_photos"]["mean_db"] == pytest.approx(1.0)
    assert rep["verdict"] == "confirms"
    runs_per_arm = len(Q["degradations"]) * (len(Q["lrs"]) + len(Q["seeds"]) - 1)
    assert rep["divergences"]["naive/velocity"] == {"runs": runs_per_arm, "diverged": runs_per_arm}
    assert rep["divergences"]["bridge/x0"] == {"runs": runs_per_arm, "diverged": 0}
    assert all(v["picked"] == max(Q["lrs"]) for arm in rep["lr_pick"].values() for v in arm.values())
    # No gain: equivalent within the margin. Half the jobs: no verdict, and it says what is missing.
    flat = {n: _fake(j["job"], bridge_gain=0.0) for n, j in done.items()}
    assert factorial.report(Q, flat, tile_photos)["verdict"] == "refutes"
    part = dict(list(done.items())[: len(done) // 2])
    assert factorial.report(Q, part, tile_photos)["verdict"].startswith(
        f"pending: {factorial.total_jobs(Q) - len(part)} of")
    assert rep["working_range"] == {**{d: {"degraded_psnr": 15.0, "clean_through_model_psnr": 25.0, "in_range": True}
                                       for d in Q["degradations"]},
                                    "motion_blur": {"degraded_psnr": 30.0, "clean_through_model_psnr": 25.0,
                                                    "in_range": False, "dropped": True, "strength": 1.0}}
    assert rep["baselines"][Q["degradations"][0]]["tiles"]["lookup_table"]["psnr"] == 16.0
    assert any("Verdict: confirms" in line for line in factorial.render(rep))
    # Run time per chunk: only the chunk's jobs still on file count; a chunk without a measured wall time says so.
    names = list(done)
    chunks = [{"started": "2026-01-02T00:00:00Z", "host": "h", "threads": 2, "jobs": names[2:5], "wall_s": 90.0},
              {"started": "2026-01-01T00:00:00Z", "host": "h", "threads": 1, "jobs": names[:2] + ["gone"],
               "wall_s": None, "source": "a commit"}]
    rows = factorial.report(Q, done, tile_photos, chunks)["chunks"]
    assert rows == [{"started": "2026-01-02T00:00:00Z", "host": "h", "threads": 2, "jobs": 3, "job_seconds": 3.0,
                     "wall_minutes": 1.5, "source": "measured"},
                    {"started": "2026-01-01T00:00:00Z", "host": "h", "threads": 1, "jobs": 2, "job_seconds": 2.0,
                     "wall_minutes": None, "source": "a commit"}]
    table = factorial.render(factorial.report(Q, done, tile_photos, chunks))
    assert "| 2026-01-02T00:00:00Z | h | 2 | 3 | 3 | 1.5 | measured |" in table
    assert "| 2026-01-01T00:00:00Z | h | 1 | 2 | 2 | - | a commit |" in table


def test_quick_factorial_runs_every_job_and_resumes(comfyui_path, tmp_path):
    """Stopped after 4 jobs and rerun: the first 4 files are kept as they were, the rest are added, and the report
    covers every cell with finite scores from the pack's trainer and samplers."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "factorial.py"), "--quick", "--comfyui", str(comfyui_path),
           "--out-dir", str(tmp_path), "--threads", "1"]
    subprocess.run(cmd + ["--max-jobs", "4"], check=True, timeout=300)
    jobs = tmp_path / factorial.JOBS_DIR
    first = {p.name: p.read_bytes() for p in jobs.glob("*.json")}
    assert len(first) == 4
    subprocess.run(cmd, check=True, timeout=600)
    after = {p.name: p.read_bytes() for p in jobs.glob("*.json")}
    assert len(after) == factorial.total_jobs(Q) and all(after[n] == b for n, b in first.items())
    assert not list(jobs.glob("*.tmp"))
    # Each run left its chunk record: its own jobs, in order, and a wall time that covers their compute.
    chunks = factorial.load_chunks(tmp_path)
    assert [len(c["jobs"]) for c in chunks] == [4, factorial.total_jobs(Q) - 4]
    assert set(chunks[0]["jobs"]) == {n[:-5] for n in first} and set(chunks[0]["jobs"]).isdisjoint(chunks[1]["jobs"])
    for c in chunks:
        compute = sum(json.loads((jobs / f"{n}.json").read_text())["seconds"] for n in c["jobs"])
        assert c["wall_s"] >= compute > 0 and c["threads"] == 1

    rep = json.loads((tmp_path / factorial.REPORT_JSON).read_text())["factorial"]
    assert rep["jobs"]["done"] == rep["jobs"]["total"] == factorial.total_jobs(Q)
    assert [c["jobs"] for c in rep["chunks"]] == [4, factorial.total_jobs(Q) - 4]
    assert rep["verdict"] in ("confirms", "refutes", "inconclusive")
    assert set(rep["cells"]) == {f"{o}/{w}/{s}" for o in factorial.OBJECTIVES for w in factorial.LOSSES
                                 for s in factorial.SAMPLERS}
    last = str(Q["steps"])
    for cell, per_deg in rep["cells"].items():
        assert set(per_deg) == set(Q["degradations"]), cell
        for d, v in per_deg.items():
            assert v["lr"] in Q["lrs"] and set(v["per_seed"]) == {str(s) for s in Q["seeds"]}
            for seed, steps in v["per_seed"].items():
                assert set(steps) == {str(s) for s in Q["log_steps"]}
                assert all(math.isfinite(steps[last][m]) for m in ("psnr", "ssim", "gmsd")), (cell, d, seed)
    for d in Q["degradations"]:
        b = rep["baselines"][d]["tiles"]
        assert {"degraded", "lookup_table", "unprompted"} <= set(b) and ("nlm" in b) == (d == "gaussian_noise")
    for key in ("primary", "secondary_early", "primary_whole_photos"):
        assert rep[key]["complete"] and all(math.isfinite(x) for x in rep[key]["ci"]), key
    run = json.loads((jobs / f"{factorial.job_name('train', Q['degradations'][0], 'bridge', 'x0', Q['lrs'][0], 0)}"
                               ".json").read_text())
    # The trainer really trained (the gates left 0) and logged every step; the scores at the last step cover the
    # whole photos, the others only the tiles.
    assert run["steps_done"] == Q["steps"] and run["gates_abs_mean"] > 0
    assert "whole" in run["test"][last]["bridge"] and "whole" not in run["test"][str(Q["log_steps"][0])]["bridge"]


def test_the_committed_report_is_read_off_the_committed_job_files():
    """benchmarks/results/reproduction.json's factorial section is exactly what the report makes from the job files
    in benchmarks/results/factorial/ (no number tuned by hand), on the full plan and the version 2 prior."""
    committed = json.loads((REPO / factorial.REPORT_JSON).read_text()).get("factorial")
    if committed is None:
        pytest.skip("no factorial job has been committed yet")
    done = factorial.load_done(REPO)
    assert done and all(j["job"]["name"] == n for n, j in done.items())
    from prior_gate import held_out_tiles

    tiles = held_out_tiles(factorial.FULL["tiles_per_photo"], factorial.FULL["crop"])
    rep = factorial.report(factorial.FULL, done, [n for n, t in tiles.items() for _ in range(t.shape[0])],
                           factorial.load_chunks(REPO))
    assert json.loads(json.dumps(rep)) == {k: v for k, v in committed.items() if k not in ("command", "prior_gate")}
    assert committed["command"] == "python benchmarks/factorial.py" and committed["prior_gate"]["passed"]
    # README.md carries the report's summary, as generated (so its numbers are the report's).
    readme = (REPO / factorial.README).read_text()
    assert all(m in readme for m in factorial.README_MARKERS), "README.md lost the factorial summary's markers"
    assert factorial.readme_with_summary(readme, committed) == readme, \
        "README.md's factorial summary is stale: run python benchmarks/factorial.py --report-only"


def test_the_readme_block_is_replaced_and_nothing_else():
    start, end = factorial.README_MARKERS
    text = f"# Title\n\nbefore\n{start}\nold numbers\n{end}\nafter\n"
    rep = {"verdict": "confirms"}
    out = factorial.readme_with_summary(text, rep)
    assert out == f"# Title\n\nbefore\n{start}\n**Verdict: confirms.**\n\n**Recommendation:** none yet; it is read " \
                  f"off the complete primary contrast.\n{end}\nafter\n"
    assert factorial.readme_with_summary(out, rep) == out
    assert factorial.readme_with_summary("no markers\n", rep) == "no markers\n"


def _combo_default(spec) -> str:
    """A combo's default in /object_info, in either host's form (V3 'COMBO' with options, or the list of options)."""
    return spec[1]["default"]


def test_the_product_defaults_follow_the_committed_recommendation(comfy_server):
    """What the Train node and Restore do when the user changes nothing is what the committed factorial recommends
    (or, while it is pending, what the pack shipped before it: factorial.DEFAULTS_BEFORE)."""
    committed = json.loads((REPO / factorial.REPORT_JSON).read_text()).get("factorial") or {}
    rec = committed.get("recommendation")
    want = rec["pick"] if rec else factorial.DEFAULTS_BEFORE
    info = comfy_server.get("/object_info")
    train = info["UnlockPromptTrain"]["input"]
    assert _combo_default(train["required"]["objective"]) == want["objective"]
    assert _combo_default(train["optional"]["loss"]) == want["loss"]
    # Restore (Bridge) has no sampler choice: it always runs the bridge sampler, so the recommendation must be it.
    restore = info["UnlockRestore"]["input"]
    assert not any("sampler" in name for part in restore.values() for name in part)
    assert want["sampler"] == "bridge"
