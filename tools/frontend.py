#!/usr/bin/env python3
"""Headless chromium + playwright-core for driving the real ComfyUI frontend (tools/frontend.mjs).

One place pins playwright-core and says where it is installed (a cache outside the repository, never
node_modules in the repo); tests/run.sh, tools/build_workflows.py and tests/test_browser_workflows.py use it.

    python tools/frontend.py install [--cache DIR]   # npm install the pinned playwright-core; prints its node_modules

Chromium is Debian's (`apt-get install -y chromium`; .ci/run installs it); playwright-core never downloads a
browser. Environment: UNLOCK_NODE_MODULES (a node_modules holding playwright-core), UNLOCK_CHROMIUM (the browser),
UNLOCK_CACHE (the cache root, default ~/.cache/unlock-restore). Stdlib only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLAYWRIGHT_CORE = "1.61.1"  # the newest release that still runs on Debian bookworm's Node 18 as well as Node 20+
SCRIPT = Path(__file__).resolve().with_name("frontend.mjs")


def cache_root() -> Path:
    return Path(os.environ.get("UNLOCK_CACHE") or Path.home() / ".cache" / "unlock-restore")


def default_modules(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"node-playwright-core-{PLAYWRIGHT_CORE}" / "node_modules"


def node_modules() -> Path:
    return Path(os.environ.get("UNLOCK_NODE_MODULES") or default_modules())


def chromium() -> str | None:
    found = os.environ.get("UNLOCK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


def missing() -> list[str]:
    """What is missing to drive the frontend, each with the command that fixes it (empty when all is there)."""
    problems = []
    if shutil.which("node") is None:
        problems.append("node is not installed: apt-get install -y nodejs npm")
    if chromium() is None:
        problems.append("chromium is not installed: apt-get install -y chromium (or set UNLOCK_CHROMIUM=/path)")
    if not (node_modules() / "playwright-core" / "package.json").is_file():
        problems.append(f"playwright-core {PLAYWRIGHT_CORE} is not in {node_modules()}: run `bash tests/run.sh` "
                        f"or `python tools/frontend.py install` (or set UNLOCK_NODE_MODULES to a node_modules "
                        "holding it)")
    return problems


def install(cache: Path | None = None) -> Path:
    """npm install the pinned playwright-core into the cache (once); returns its node_modules."""
    modules = default_modules(cache)
    if (modules / "playwright-core" / "package.json").is_file():
        return modules
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed: apt-get install -y nodejs npm")
    prefix = modules.parent
    prefix.mkdir(parents=True, exist_ok=True)
    # playwright-core has no dependencies and downloads nothing on install; the exact pin is all there is to lock.
    subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                    "--loglevel=error", f"playwright-core@{PLAYWRIGHT_CORE}"], check=True, stdout=sys.stderr)
    return modules


def run(mode: str, url: str, jobs: list[dict], out: Path, timeout: float = 1800.0) -> subprocess.CompletedProcess:
    """Run tools/frontend.mjs (`build` or `check`) against a server at `url`; raises with its output on failure."""
    problems = missing()
    if problems:
        raise RuntimeError("cannot drive the ComfyUI frontend:\n  - " + "\n  - ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
    try:
        proc = subprocess.run(["node", str(SCRIPT), mode, "--url", url, "--jobs", f.name, "--out", str(out),
                               "--chromium", chromium(), "--modules", str(node_modules())],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"tools/frontend.mjs {mode} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_install = sub.add_parser("install", help="install the pinned playwright-core; prints its node_modules")
    p_install.add_argument("--cache", type=Path, default=None)
    sub.add_parser("check", help="say what is missing to drive the frontend")
    a = ap.parse_args()
    if a.cmd == "install":
        try:
            print(install(a.cache))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"tools/frontend.py install: {e}")
    else:
        problems = missing()
        print("\n".join(problems) or "ok")
        sys.exit(1 if problems else 0)
