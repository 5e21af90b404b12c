#!/usr/bin/env python3
"""Build the UI-format workflows and their thumbnails from the API twins, with the real ComfyUI frontend.

    python tools/build_workflows.py --comfyui /path/to/ComfyUI [--only NAME,...] [--python PY]

For every workflow of tools/workflow_specs.py: starts ComfyUI (127.0.0.1 only, scratch base directory, this pack
in custom_nodes, the sample inputs in input/), opens its frontend in headless chromium (tools/frontend.mjs),
loads workflows/api/<name>.json as dropping the file does (app.loadApiJson), lays the nodes out left to right by
graph depth, adds a Markdown Note with the workflow's title and note, and saves what the frontend serializes
(graphToPrompt().workflow plus the view, as its Export does) as workflows/<name>.json and a canvas screenshot as
workflows/<name>.jpg (the template browser's thumbnail). The build fails if the frontend's API conversion of the
result differs from the API twin.

Run it with a Python that can run ComfyUI (e.g. the test venv that `bash tests/run.sh` builds), or name one with
--python. Needs node, Debian chromium and playwright-core (`python tools/frontend.py install`).
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = REPO / "workflows"
THUMB_WIDTH = 512
THUMB_MAX_BYTES = 80_000


sys.path.insert(0, str(REPO / "tools"))  # tools/ holds only scripts; the pack's own packages stay off sys.path
import frontend  # noqa: E402
import workflow_specs as specs  # noqa: E402


def api_twin(name: str) -> dict:
    path = WORKFLOWS_DIR / "api" / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python tools/workflow_specs.py` first")
    graph = json.loads(path.read_text())
    if graph != specs.api_graph(name):
        raise SystemExit(f"{path} is stale (differs from tools/workflow_specs.py): run "
                         "`python tools/workflow_specs.py` first")
    return graph


def thumbnail(png: Path, jpg: Path) -> None:
    """The screenshot as a small JPEG (the template browser shows a card-sized image)."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    img = img.resize((THUMB_WIDTH, round(img.height * THUMB_WIDTH / img.width)), Image.Resampling.LANCZOS)
    for quality in (85, 75, 65, 55, 45):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= THUMB_MAX_BYTES:
            break
    jpg.write_bytes(buf.getvalue())


def declared_only(output: dict, object_info: dict) -> dict:
    """The frontend's API graph without inputs the node does not declare: widgets of the frontend's own (e.g.
    LoadVideo's 'video-preview') go into the prompt too, and the server ignores them."""
    out = {}
    for nid, node in output.items():
        spec = object_info.get(node["class_type"], {}).get("input", {})
        names = set(spec.get("required", {})) | set(spec.get("optional", {}))
        out[nid] = {**node, "inputs": {k: v for k, v in node["inputs"].items() if k in names}}
    return out


def conversion_diff(output: dict, api: dict) -> dict:
    """Where the frontend's API conversion differs from the API twin: {node id: {field: (twin, frontend)}}."""
    diff = {}
    for nid in sorted(set(api) | set(output), key=lambda k: (len(k), k)):
        a, o = api.get(nid), output.get(nid)
        if a is None or o is None:
            diff[nid] = {"node": (a and a["class_type"], o and o["class_type"])}
            continue
        fields = {f"inputs.{k}": (a["inputs"].get(k, "<absent>"), o["inputs"].get(k, "<absent>"))
                  for k in set(a["inputs"]) | set(o["inputs"]) if a["inputs"].get(k) != o["inputs"].get(k)}
        for key in ("class_type", "_meta"):
            if a.get(key) != o.get(key):
                fields[key] = (a.get(key), o.get(key))
        if fields:
            diff[f"{nid} {a['class_type']}"] = fields
    return diff


def build(comfyui: Path, names: list[str], python: str, shots: Path | None = None) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import make_base_dir
    from harness.server import ComfyServer

    jobs = [{"name": n, "title": specs.WORKFLOWS[n]["title"], "note": specs.WORKFLOWS[n]["note"],
             "api": api_twin(n)} for n in names]
    scratch = Path(tempfile.mkdtemp(prefix="unlock-build-workflows-"))
    try:
        base = make_base_dir(scratch / "base")
        # The sample inputs, so Load Image / Load Video show them in the thumbnails; no model files are needed.
        shutil.copytree(specs.INPUTS_DIR, base / "input", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
        server = ComfyServer(comfyui, base, python=python).start()
        try:
            proc = frontend.run("build", server.url, jobs, scratch / "out")
            object_info = server.get("/object_info")
        except Exception:
            print(f"--- ComfyUI log tail ---\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            server.stop()
        print(proc.stdout, end="")
        out = scratch / "out"
        # The frontend's API conversion of each result must be its API twin exactly (titles included), or the two
        # files would describe different graphs; nothing is written otherwise.
        diffs = {job["name"]: conversion_diff(
            declared_only(json.loads((out / f"{job['name']}.output.json").read_text()), object_info), job["api"])
            for job in jobs}
        diffs = {name: d for name, d in diffs.items() if d}
        if diffs:
            raise SystemExit("the frontend's graphToPrompt().output differs from workflows/api/<name>.json "
                             "(field: [API twin, frontend]); make the API twins say what the frontend does:\n"
                             + json.dumps(diffs, indent=1))
        for job in jobs:
            name = job["name"]
            workflow = json.loads((out / f"{name}.json").read_text())
            # The frontend gives every new workflow a random id; a fixed one keeps rebuilds byte-identical.
            workflow["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"unlock-restore/workflows/{name}"))
            (WORKFLOWS_DIR / f"{name}.json").write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")
            thumbnail(out / f"{name}.png", WORKFLOWS_DIR / f"{name}.jpg")
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                shutil.copy(out / f"{name}.png", shots / f"{name}.png")
            print(f"wrote workflows/{name}.json, workflows/{name}.jpg "
                  f"({(WORKFLOWS_DIR / f'{name}.jpg').stat().st_size // 1024} KB)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui", type=Path, required=True, help="a ComfyUI checkout (its main.py is started)")
    ap.add_argument("--only", default="", help="comma-separated workflow names (default: all)")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs ComfyUI (default: this one)")
    ap.add_argument("--shots", type=Path, default=None, help="also keep the full-size screenshots (PNG) here")
    a = ap.parse_args()
    if not (a.comfyui / "main.py").is_file():
        raise SystemExit(f"no ComfyUI checkout at {a.comfyui} (main.py missing)")
    names = [n for n in a.only.split(",") if n] or list(specs.WORKFLOWS)
    unknown = sorted(set(names) - set(specs.WORKFLOWS))
    if unknown:
        raise SystemExit(f"unknown workflows {unknown}; known: {list(specs.WORKFLOWS)}")
    problems = frontend.missing()
    if problems:
        raise SystemExit("cannot drive the ComfyUI frontend:\n  - " + "\n  - ".join(problems))
    build(a.comfyui.resolve(), names, a.python, a.shots)


if __name__ == "__main__":
    main()
