"""The headless runner (tools/unlock_run.py) against a real server: overrides, outputs, batches, training folders,
UI-format input, and a clear error and exit code for each way a run can fail."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from harness import workflows as wf
from harness.graphs import write_public_domain_image
from harness.server import free_port

run_main = wf.runner.main
RESTORE = str(wf.WORKFLOWS_DIR / "api" / "flux_restore_image.json")


def _reports(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- tier 1 ----------------------------------------------------------------------------------------------------------
def test_no_server_is_exit_3_with_what_to_do(capsys):
    code = run_main([RESTORE, "--server", f"http://127.0.0.1:{free_port()}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "no ComfyUI answers" in err and "--comfyui" in err


def test_bad_workflow_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_main([str(bad), "--server", f"http://127.0.0.1:{free_port()}"]) in (2, 3)
    with pytest.raises(wf.runner.RunError, match="not valid JSON"):
        wf.runner.load_workflow(bad, None)
    with pytest.raises(wf.runner.RunError, match="does not exist"):
        wf.runner.load_workflow(tmp_path / "missing.json", None)


def test_set_syntax_errors_name_the_fix():
    with pytest.raises(wf.runner.RunError, match="ID.INPUT=VALUE"):
        wf.runner.parse_set(["t0=0.5"])
    assert wf.runner.parse_set(["5.t0=0.5", "3.prompt_name=a b.safetensors"]) == [
        ("5", "t0", 0.5), ("3", "prompt_name", "a b.safetensors")]


def test_overrides_touch_only_what_they_name():
    args = wf.runner.build_parser().parse_args([RESTORE, "--seed", "9", "--steps", "3", "--prompt", "x.safetensors",
                                                 "--set", "5.t0=0.3"])
    graph = wf.load_api("flux_restore_image")
    out = wf.runner.apply_overrides(graph, args, {"image": "up.png"})
    assert out["5"]["inputs"]["seed"] == 9 and out["5"]["inputs"]["steps"] == 3 and out["5"]["inputs"]["t0"] == 0.3
    assert out["3"]["inputs"]["prompt_name"] == "x.safetensors" and out["4"]["inputs"]["image"] == "up.png"
    changed = {(nid, k) for nid in graph for k in graph[nid]["inputs"] if graph[nid]["inputs"][k] != out[nid]["inputs"][k]}
    assert changed == {("5", "seed"), ("5", "steps"), ("5", "t0"), ("3", "prompt_name"), ("4", "image")}
    assert graph["5"]["inputs"]["seed"] == 0  # the loaded graph is not modified
    with pytest.raises(wf.runner.RunError, match="exactly one LoadVideo"):
        wf.runner.apply_overrides(graph, args, {"video": "v.mp4"})


# -- tier 2 ----------------------------------------------------------------------------------------------------------
@pytest.fixture()
def small_photo(tmp_path):
    return write_public_domain_image(tmp_path / "astronaut.png", size=64)


def test_restore_with_overrides_downloads_the_output(workflow_server, small_photo, tmp_path, capsys):
    out = tmp_path / "out"
    code = run_main([RESTORE, "--server", workflow_server.url, "--image", str(small_photo), "--steps", "2",
                     "--seed", "5", "--out", str(out), "--quiet"])
    reports = _reports(capsys)
    assert code == 0, capsys.readouterr().err
    (report,) = reports
    (path,) = [p for p in out.iterdir()]
    assert str(path) == report["files"][0] and path.name.startswith("flux_restore_image_")
    assert np.asarray(Image.open(path)).shape == (64, 64, 3)  # the uploaded image, not the sample


def test_batch_runs_one_job_per_file(workflow_server, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate((48, 64)):
        write_public_domain_image(folder / f"p{i}.png", size=size)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    code = run_main([RESTORE, "--server", workflow_server.url, "--batch", str(folder), "--steps", "1", "--out",
                     str(out), "--quiet"])
    assert code == 0
    reports = _reports(capsys)
    assert [r["label"] for r in reports] == ["p0", "p1"]
    sizes = sorted(Image.open(p).size for p in out.iterdir())
    assert sizes == [(48, 48), (64, 64)]


def test_training_folder_upload(workflow_server, tmp_path, capsys):
    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(2):
        write_public_domain_image(folder / f"c{i}.png", size=64)
    code = run_main([str(wf.WORKFLOWS_DIR / "api" / "wan_train_prompt.json"), "--server", workflow_server.url,
                     "--folder", str(folder), "--train-steps", "1", "--steps", "1", "--set", "7.resolution=32",
                     "--set", "7.tokens=4", "--set", '7.save_name="runner_test"', "--quiet"])
    assert code == 0, capsys.readouterr().err
    (report,) = _reports(capsys)
    assert any("Step 1" in t for texts in report["text"].values() for t in texts), report
    assert (workflow_server.base / "input" / "unlock_run_clean" / "c0.png").is_file()
    assert (workflow_server.base / "models" / "prompt_embeds" / "runner_test.safetensors").is_file()


def test_ui_workflow_file_runs(workflow_server, small_photo, tmp_path, capsys):
    code = run_main([str(wf.WORKFLOWS_DIR / "flux_restore_image.json"), "--server", workflow_server.url, "--image",
                     str(small_photo), "--steps", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_unknown_node_is_exit_4_naming_the_pack(workflow_server, tmp_path, capsys):
    graph = wf.load_api("flux_restore_image")
    graph["5"]["class_type"] = "UnlockRestoreFromTheFuture"
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph))
    assert run_main([str(path), "--server", workflow_server.url, "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "UnlockRestoreFromTheFuture (node 5)" in err and "custom_nodes" in err


def test_validation_failure_is_exit_5_with_node_errors(workflow_server, tmp_path, capsys):
    graph = wf.load_api("flux_restore_image")
    graph["4"]["inputs"]["image"] = "no_such_photo.png"
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph))
    assert run_main([str(path), "--server", workflow_server.url, "--quiet"]) == 5
    err = capsys.readouterr().err
    assert "rejected" in err and "node 4 LoadImage" in err and "no_such_photo.png" in err


def test_execution_error_is_exit_6_and_the_server_serves_the_next_job(workflow_server, small_photo, capsys):
    # A prompt file of another family passes validation on every host and fails when Restore runs.
    code = run_main([RESTORE, "--server", workflow_server.url, "--prompt", "wan_rain.safetensors", "--quiet"])
    err = capsys.readouterr().err
    assert code == 6 and "Restore (Bridge)" in err and "Wan 2.1" in err and "FLUX" in err, err
    # A prompt name that is not in the list: v0.3.64 runs the loader, which fails (6); hosts that validate V3
    # combo values (v0.20.1) reject the graph (5). Either way the node and the name are reported.
    code = run_main([RESTORE, "--server", workflow_server.url, "--prompt", "missing_prompt.safetensors",
                     "--quiet"])
    err = capsys.readouterr().err
    assert code in (5, 6) and "UnlockPromptLoader" in err and "missing_prompt.safetensors" in err, err
    assert run_main([RESTORE, "--server", workflow_server.url, "--image", str(small_photo), "--steps", "1",
                     "--quiet"]) == 0
