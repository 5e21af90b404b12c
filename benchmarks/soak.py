#!/usr/bin/env python3
"""Soak: N sequential restore jobs through the headless runner to one ComfyUI server; success count and the
server's memory growth.

    python benchmarks/soak.py --comfyui /path/to/ComfyUI [--jobs 50] [--out benchmarks/results/soak.json]

Run with the Python that runs ComfyUI. The server is the demo's scratch setup (tools/demo.py: tiny models under
the real names, this pack, the samples). A prompt is trained first with the shipped training workflow (2 steps),
then every job runs the shipped workflows/api/flux_restore_image.json with its own seed (so nothing is served from
ComfyUI's cache) on a 64 px photo at 4 steps: the soak exercises the server's job lifecycle (load, patch, sample,
decode, save, release), not sampling speed. Memory is the server process's resident set after each job; growth is
measured from the job after warm-up (the model is loaded by then) to the last job. Goal: all jobs succeed, growth
under 5%.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import demo  # noqa: E402
import unlock_run  # noqa: E402
import workflow_specs as specs  # noqa: E402

WARMUP_JOBS = 3  # the first jobs load the model and fill allocator pools; growth is measured after them


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc (Linux only)")


def photo(path: Path, size: int = 64) -> Path:
    from PIL import Image

    src = specs.INPUTS_DIR / "unlock_hazy_photo.png"
    Image.open(src).convert("RGB").resize((size, size), Image.Resampling.LANCZOS).save(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", type=Path, default=os.environ.get("COMFYUI_PATH"))
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    ap.add_argument("--cache", type=Path, default=demo.DEFAULT_CACHE)
    args = ap.parse_args(argv)
    if not args.comfyui or not (Path(args.comfyui) / "main.py").is_file():
        print("soak: error: pass --comfyui /path/to/ComfyUI", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="unlock-soak-"))
    server = demo.start_scratch_server(args.comfyui, args.python, args.cache, work / "comfyui", work / "comfyui.log")
    client = unlock_run.Client(server.url)
    parser = unlock_run.build_parser()
    results, rss = [], []
    try:
        train = parser.parse_args([str(specs.API_DIR / "flux_train_prompt.json"), "--set", "7.steps=2", "--set",
                                   "7.resolution=64", "--set", "7.tokens=16", "--steps", "2"])
        unlock_run.run_job(client, unlock_run.apply_overrides(unlock_run.load_workflow(train.workflow, client),
                                                              train, {}), None, "train", 1800, server, False)
        image = client.upload(photo(work / "soak_photo.png"))
        restore = unlock_run.load_workflow(specs.API_DIR / "flux_restore_image.json", client)
        for i in range(args.jobs):
            job = parser.parse_args([str(specs.API_DIR / "flux_restore_image.json"), "--seed", str(i + 1),
                                     "--steps", str(args.steps)])
            graph = unlock_run.apply_overrides(restore, job, {"image": image})
            start = time.monotonic()
            try:
                unlock_run.run_job(client, graph, None, f"job{i + 1}", 600, server, progress=False)
                ok, error = True, None
            except unlock_run.RunError as e:
                ok, error = False, str(e)
            rss.append(rss_mib(server.proc.pid))
            results.append({"job": i + 1, "ok": ok, "seconds": round(time.monotonic() - start, 2),
                            "rss_mib": round(rss[-1], 1), **({"error": error} if error else {})})
            print(json.dumps(results[-1]), flush=True)
    finally:
        server.stop()
    succeeded = sum(r["ok"] for r in results)
    ref = rss[min(WARMUP_JOBS, len(rss) - 1)]
    growth = (rss[-1] - ref) / ref
    summary = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/soak.py --comfyui PATH --jobs %d" % args.jobs,
        "workflow": "workflows/api/flux_restore_image.json (tiny FLUX, 64 px, %d steps, seed per job)" % args.steps,
        "jobs": args.jobs, "succeeded": succeeded,
        "rss_mib_after_warmup": round(ref, 1), "rss_mib_last": round(rss[-1], 1),
        "rss_mib_max": round(max(rss), 1), "memory_growth_after_warmup": round(growth, 4),
        "warmup_jobs": WARMUP_JOBS, "median_seconds_per_job": statistics.median(r["seconds"] for r in results),
        "goal": "all jobs succeed; memory growth < 5%",
        "met": succeeded == args.jobs and growth < 0.05, "per_job": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"soak: {succeeded}/{args.jobs} succeeded; server RSS {ref:.0f} MiB after warm-up -> {rss[-1]:.0f} MiB "
          f"({100 * growth:+.2f}%); {args.out}")
    return 0 if summary["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
