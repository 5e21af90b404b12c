"""Tier 2, browser: every shipped UI workflow (workflows/<name>.json) in the real ComfyUI frontend.

Headless Debian chromium (driven by tools/frontend.mjs through playwright-core) opens the frontend the test server
serves, drops each file on the canvas (a real `drop` DragEvent carrying the file, handled by ComfyUI's own
drag-and-drop handler), checks the frontend's API conversion (graphToPrompt().output) is the API twin
workflows/api/<name>.json, sets the CPU test budget on the widgets, mutes the text encoders without a small stand-in
every host loads (harness.workflows.text_encoder_nodes), clicks Run, and the run must succeed with
outputs in /history. One browser session queues all selected workflows; each test then waits for its own run.

Needs node, chromium and playwright-core (tests/run.sh installs playwright-core; `apt-get install -y chromium`).
Missing ones FAIL the tests with the command to fix it; UNLOCK_SKIP_BROWSER=1 skips them instead, loudly.
"""
from __future__ import annotations

import json
import os
import urllib.request

import pytest

from harness import workflows as wf
from harness.host import PACK_FOLDER_NAME, load_tool

frontend = load_tool("frontend")

# The import workflow overwrites the stand-in prompts with full-size ones: it runs last, and they are rewritten.
NAMES = sorted(wf.names(), key=lambda n: (n == "wan_import_official_prompts", wf.names().index(n)))
UI_FILES = sorted(p.stem for p in wf.WORKFLOWS_DIR.glob("*.json"))
RUN_TIMEOUT = 600.0


def _declared_only(graph: dict, object_info: dict) -> dict:
    """An API graph without `_meta` and without inputs the node does not declare (the frontend also sends its own
    preview widgets, e.g. LoadVideo's 'video-preview'; the server ignores them)."""
    out = {}
    for nid, node in graph.items():
        spec = object_info.get(node["class_type"], {}).get("input", {})
        names = set(spec.get("required", {})) | set(spec.get("optional", {}))
        out[nid] = {"class_type": node["class_type"],
                    "inputs": {k: v for k, v in node["inputs"].items() if k in names}}
    return out


def _diff(got: dict, want: dict) -> str:
    """Per node and input: (expected, frontend)."""
    lines = []
    for nid in sorted(set(got) | set(want), key=lambda k: (len(k), k)):
        g, w = got.get(nid), want.get(nid)
        if g is None or w is None:
            lines.append(f"  node {nid}: expected {w and w['class_type']}, frontend {g and g['class_type']}")
            continue
        if g["class_type"] != w["class_type"]:
            lines.append(f"  node {nid}: expected {w['class_type']}, frontend {g['class_type']}")
        for k in sorted(set(g["inputs"]) | set(w["inputs"])):
            if g["inputs"].get(k, "<absent>") != w["inputs"].get(k, "<absent>"):
                lines.append(f"  node {nid} {w['class_type']}.{k}: expected {w['inputs'].get(k, '<absent>')!r}, "
                             f"frontend {g['inputs'].get(k, '<absent>')!r}")
    return "\n".join(lines)


def _can_run(server, api: dict) -> str | None:
    """Why a workflow cannot run on this machine (None when it can): the import needs files that are not
    generated, the official .pt prompts (../shared/reference or UNLOCK_OFFICIAL_DIR), and a family this host lacks
    has no tiny stand-in here."""
    models = wf.missing_models(server.base, wf.runnable(api))
    if models:
        return (f"no tiny stand-in on this host for {models} (their family needs a newer ComfyUI: "
                "tools/tiny_models.py HOST_NEEDS); it runs on v0.20.1")
    folder = server.base / "models" / "prompt_embeds_official"
    missing = sorted({n["inputs"]["official_file"] for n in api.values() if n["class_type"] == "UnlockPromptImport"
                      and not (folder / n["inputs"]["official_file"]).is_file()})
    return f"official prompt files not available here: {missing}" if missing else None


@pytest.fixture(scope="session")
def browser_ready(comfyui_path):  # no host: tier 2 is skipped as a whole, with its own loud line
    if os.environ.get("UNLOCK_SKIP_BROWSER") == "1":
        pytest.skip("!!! BROWSER WORKFLOW TESTS SKIPPED (UNLOCK_SKIP_BROWSER=1): the shipped UI workflows were NOT "
                    "loaded, converted or run in the real frontend !!!")
    problems = frontend.missing()
    if problems:
        pytest.fail("BROWSER WORKFLOW TESTS CANNOT RUN (set UNLOCK_SKIP_BROWSER=1 to skip them instead):\n  - "
                    + "\n  - ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def browser_results(request, browser_ready, workflow_server, tmp_path_factory):
    """Drop, convert, budget and queue every selected workflow in one browser session: name -> result."""
    server = workflow_server
    selected = [n for n in NAMES if any(getattr(item, "callspec", None) and item.callspec.params.get("name") == n
                                        and item.module.__name__ == __name__ for item in request.session.items)]
    jobs = []
    for name in selected:
        path = wf.WORKFLOWS_DIR / f"{name}.json"
        if not path.is_file():
            continue  # the test says so
        api = wf.load_api(name)
        jobs.append({"name": name, "file": str(path), "budget": wf.test_budget(api), "mute": wf.text_encoder_nodes(api),
                     "queue": _can_run(server, api) is None})
    out = tmp_path_factory.mktemp("browser")
    try:
        frontend.run("check", server.url, jobs, out)
    except Exception as e:
        pytest.fail(f"{e}\n--- ComfyUI log tail ---\n{server.log_tail()}", pytrace=False)
    results = {r["name"]: r for r in json.loads((out / "results.json").read_text())}
    yield results
    # Nothing queued here may still run (or rewrite prompt files) when the next test module starts.
    for r in results.values():
        body = (r.get("response") or {}).get("body")
        if isinstance(body, dict) and body.get("prompt_id"):
            try:
                server.wait(body["prompt_id"], RUN_TIMEOUT)
            except (TimeoutError, RuntimeError):
                pass  # its own test reports it
    wf.install_prompts(server.base)


@pytest.fixture(scope="module")
def object_info(workflow_server):
    return workflow_server.get("/object_info")


def test_every_workflow_has_a_ui_file_and_thumbnail():
    missing = [f"workflows/{n}.{ext}" for n in wf.names() for ext in ("json", "jpg")
               if not (wf.WORKFLOWS_DIR / f"{n}.{ext}").is_file()]
    assert not missing, f"missing {missing}: run `python tools/build_workflows.py --comfyui PATH`"
    extra = sorted(set(UI_FILES) - set(wf.names()))
    assert not extra, f"workflows/*.json without a spec in tools/workflow_specs.py: {extra}"


@pytest.mark.parametrize("name", NAMES)
def test_ui_file_carries_title_and_note(name):
    if not (wf.WORKFLOWS_DIR / f"{name}.json").is_file():
        pytest.fail(f"workflows/{name}.json is missing: run `python tools/build_workflows.py --comfyui PATH`")
    ui = wf.load_ui(name)
    notes = [n for n in ui["nodes"] if n["type"] == "MarkdownNote"]
    spec = wf.specs.WORKFLOWS[name]
    assert len(notes) == 1 and notes[0]["widgets_values"] == [spec["note"]], \
        f"{name}: the Markdown Note must hold WORKFLOWS['{name}']['note']; rebuild with tools/build_workflows.py"
    assert notes[0]["title"] == spec["title"] and ui["extra"]["unlock_restore"]["title"] == spec["title"]


@pytest.mark.parametrize("name", NAMES)
def test_workflow_in_browser(browser_ready, name, browser_results, workflow_server, object_info):
    server = workflow_server
    if name not in browser_results:
        pytest.fail(f"workflows/{name}.json is missing: run `python tools/build_workflows.py --comfyui PATH`")
    r = browser_results[name]
    context = ("\n--- browser log (console errors, failed requests) ---\n" + "\n".join(r["log"][-40:])
               + f"\n--- ComfyUI log tail ---\n{server.log_tail(3000)}")
    assert r["error"] is None, f"FAILED in the browser: {r['error']}{context}"

    api = wf.load_api(name)
    diff = _diff(_declared_only(r["loaded"], object_info), _declared_only(api, object_info))
    assert not diff, (f"dropping workflows/{name}.json: the frontend's graphToPrompt().output differs from "
                      f"workflows/api/{name}.json:\n{diff}{context}")

    why_not = _can_run(server, api)
    if why_not:
        pytest.skip(f"{name}: converted and checked, NOT run: {why_not}")
    posted = r["queued"]["prompt"]
    diff = _diff(_declared_only(posted, object_info), _declared_only(wf.runnable(api), object_info))
    assert not diff, (f"{name}: the prompt the Run button posted is not the API twin with the test budget "
                      f"(and without the text-encoder nodes {wf.text_encoder_nodes(api)}):\n{diff}{context}")
    status, body = r["response"]["status"], r["response"]["body"]
    assert status == 200 and not body.get("node_errors"), \
        f"{name}: POST /prompt from the page -> {status}: {json.dumps(body, indent=1)}{context}"
    entry = server.wait(body["prompt_id"], RUN_TIMEOUT)
    if name == "wan_import_official_prompts":
        wf.install_prompts(server.base)  # the stand-ins again, for the tests that follow
    assert entry["status"]["status_str"] == "success", \
        f"{name}: the run FAILED:\n{json.dumps(entry['status'], indent=1)[-4000:]}{context}"
    assert entry["outputs"], f"{name}: the run succeeded without outputs{context}"


def test_template_browser_lists_the_workflows_and_serves_thumbnails(workflow_server):
    listed = workflow_server.get("/workflow_templates")
    assert sorted(listed.get(PACK_FOLDER_NAME, [])) == UI_FILES, \
        f"/workflow_templates -> {listed}; expected {PACK_FOLDER_NAME}: {UI_FILES}"
    for name in UI_FILES:
        # The URLs the frontend's template browser fetches (api.apiURL('/workflow_templates/<module>/<name>.*')).
        base = f"{workflow_server.url}/api/workflow_templates/{PACK_FOLDER_NAME}/{name}"
        with urllib.request.urlopen(base + ".jpg", timeout=30) as resp:
            data = resp.read()
            assert resp.headers.get_content_type() == "image/jpeg", f"{name}.jpg served as {resp.headers}"
        assert data[:3] == b"\xff\xd8\xff" and len(data) < 100_000, f"{name}.jpg: not a small JPEG ({len(data)} B)"
        with urllib.request.urlopen(base + ".json", timeout=30) as resp:
            assert json.loads(resp.read()) == wf.load_ui(name)
