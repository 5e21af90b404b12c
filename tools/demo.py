#!/usr/bin/env python3
"""The whole pack end to end on tiny random-weight models: nothing to download, a CPU is enough.

    python tools/demo.py --comfyui /path/to/ComfyUI [--out unlock_demo] [--python PY]

Run it with the Python that runs ComfyUI (or pass --python). It
  1. builds the tiny test checkpoints from a seed (tools/tiny_models.py; cached in ~/.cache/unlock-restore),
  2. makes a scratch ComfyUI folder (<out>/comfyui) with them installed under the real model file names, the
     sample inputs, and this pack in custom_nodes (your own ComfyUI folders are not touched),
  3. starts ComfyUI on 127.0.0.1 and, through the headless runner, runs the shipped workflows:
     flux_train_prompt (a few steps) -> flux_restore_image on the sample image with the prompt just trained,
     wan_train_prompt (a few steps) -> wan_restore_video on the sample video with that prompt,
  4. writes the outputs to <out>/outputs and a short report to <out>/report.md (and report.json).

It proves the wiring (loaders, injection, training, bridge sampling, video windows, saving), not restoration:
random weights restore nothing. Real restoration needs FLUX.1-dev / Wan2.1-T2V-1.3B (README, "Using it with the
real models").
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))  # tools/ holds only scripts; the pack's own packages stay off sys.path

import tiny_models  # noqa: E402
import unlock_run  # noqa: E402
import workflow_specs as specs  # noqa: E402

# A CPU-sized training budget (the shipped workflows train 500 steps on 256 px crops with 512 tokens).
# overwrite: a demo run again into the same folder replaces the prompts its last run trained there.
TRAIN_BUDGET = ["7.steps=4", "7.resolution=64", "7.tokens=16", "7.checkpoint_every=2", "7.overwrite=true"]
JOBS = [  # (label, workflow, runner overrides)
    ("flux_train", "flux_train_prompt", TRAIN_BUDGET),
    ("flux_restore", "flux_restore_image", []),
    ("wan_train", "wan_train_prompt", TRAIN_BUDGET),
    ("wan_restore", "wan_restore_video", ["3.prompt_name=my_wan_rain.safetensors"]),
]


DEFAULT_CACHE = tiny_models.cache_root()


def start_scratch_server(comfyui: Path, python: str, cache: Path, base: Path,
                         log_path: Path) -> unlock_run.LocalServer:
    """A ComfyUI with the tiny models under the real file names in a scratch base directory, started."""
    base = make_base(base, tiny_models.ensure_built(comfyui, python, cache=cache))
    return unlock_run.LocalServer(comfyui, python=python, base_directory=base,
                                  extra_args=list(unlock_run.SCRATCH_ARGS), log_path=log_path).start()


def make_base(base: Path, tiny_files: dict[str, Path]) -> Path:
    for sub in ("input", "output", "user", "temp", "custom_nodes", "models/prompt_embeds"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    pack = base / "custom_nodes" / "unlock-restore"
    if not pack.exists():
        pack.symlink_to(REPO, target_is_directory=True)
    return specs.install_standins(base, tiny_files)


def run_jobs(client: unlock_run.Client, server, out: Path) -> list[dict]:
    parser = unlock_run.build_parser()
    reports = []
    for label, name, sets in JOBS:
        args = parser.parse_args([str(specs.API_DIR / f"{name}.json"), *sum((["--set", s] for s in sets), [])])
        graph = unlock_run.apply_overrides(unlock_run.load_workflow(args.workflow, client), args, {})
        print(f"[demo] {label}: {name}", flush=True)
        try:
            report = unlock_run.run_job(client, graph, out / "outputs", label, timeout=1800, server=server,
                                        previews=True)
        except unlock_run.RunError as e:
            report = {"label": label, "error": str(e)}
        report["workflow"] = f"workflows/api/{name}.json"
        report["overrides"] = sets
        reports.append(report)
        print(json.dumps(report), flush=True)
    return reports


def write_report(out: Path, reports: list[dict], seconds: float, comfyui: Path) -> None:
    ok = sum("error" not in r for r in reports)
    data = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "comfyui": str(comfyui),
            "jobs": reports, "succeeded": ok, "total": len(reports), "seconds": round(seconds, 1)}
    (out / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = ["# unlock-restore tiny-model demo", "",
             f"{ok} of {len(reports)} workflows succeeded in {seconds:.0f} s ({data['date']}, ComfyUI at {comfyui}).",
             "", "The models are tiny and random: the outputs show that every piece is wired (loading, training, "
             "injection, bridge sampling, video windows, saving), not restoration. For real restoration put "
             "FLUX.1-dev or Wan2.1-T2V-1.3B in ComfyUI's models folders (README, 'Using it with the real models').",
             "", "| job | workflow | seconds | outputs / error |", "|---|---|---|---|"]
    for r in reports:
        what = r.get("error") or ", ".join(Path(f).name for f in r.get("files", [])) or "-"
        lines.append(f"| {r['label']} | {r['workflow']} | {r.get('seconds', '-')} | {what} |")
    for r in reports:
        for nid, text in (r.get("text") or {}).items():
            lines += ["", f"{r['label']} (node {nid}): " + " ".join(map(str, text))]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", type=Path, default=os.environ.get("COMFYUI_PATH"),
                    help="a ComfyUI checkout (default $COMFYUI_PATH)")
    ap.add_argument("--out", type=Path, default=Path("unlock_demo"))
    ap.add_argument("--python", default=sys.executable, help="the Python that runs ComfyUI (default: this one)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    if not args.comfyui or not (Path(args.comfyui) / "main.py").is_file():
        print("demo: error: pass --comfyui /path/to/ComfyUI (a checkout with main.py)", file=sys.stderr)
        return 2
    start = time.monotonic()
    out = args.out.resolve()
    if (out / "comfyui").exists():
        shutil.rmtree(out / "comfyui")  # a fresh scratch ComfyUI each run (the outputs folder is kept)
    server = start_scratch_server(args.comfyui, args.python, args.cache, out / "comfyui", out / "comfyui.log")
    try:
        reports = run_jobs(unlock_run.Client(server.url), server, out)
    finally:
        server.stop()
    write_report(out, reports, time.monotonic() - start, args.comfyui)
    failed = [r for r in reports if "error" in r]
    print(f"[demo] {len(reports) - len(failed)}/{len(reports)} succeeded; report: {out / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
