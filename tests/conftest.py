"""Shared fixtures. Tier 1 (pure torch) needs nothing; tier 2 needs a ComfyUI checkout (COMFYUI_PATH or ~/ComfyUI)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.host import (REPO, InProcessHost, comfyui_candidate, find_comfyui, load_tool, make_base_dir,
                          pack_on_path)
from harness.server import ComfyServer

pack_on_path()  # the pack as the package `unlock_restore`, before any test module imports it

COMFYUI = find_comfyui()
OFFICIAL_DIR = Path(os.environ.get("UNLOCK_OFFICIAL_DIR", REPO.parent / "shared" / "reference" / "ypt-official"))
NO_HOST = (f"TIER 2 SKIPPED: no ComfyUI checkout at {comfyui_candidate()} (looked at $COMFYUI_PATH, else "
           f"~/ComfyUI). Set COMFYUI_PATH=/path/to/ComfyUI to run the host tests.")


def pytest_report_header(config):
    return f"unlock-restore tier 2 host: {COMFYUI}" if COMFYUI else f"!!! {NO_HOST} !!!"


def pytest_terminal_summary(terminalreporter):
    if COMFYUI is None:
        terminalreporter.write_line(f"!!! {NO_HOST} !!!", red=True, bold=True)


@pytest.fixture(scope="session")
def comfyui_path() -> Path:
    if COMFYUI is None:
        pytest.skip(NO_HOST)
    return COMFYUI


@pytest.fixture(scope="session")
def tiny_models(comfyui_path) -> dict[str, Path]:
    """Deterministic tiny checkpoints (built once from a seed, cached outside the repo): name -> file."""
    return _tiny_builder().ensure_built(comfyui_path)


@pytest.fixture(scope="session")
def comfy_host(comfyui_path, tmp_path_factory) -> InProcessHost:
    """ComfyUI imported in this process on CPU (scratch base directory), this pack loaded."""
    return InProcessHost(comfyui_path, make_base_dir(tmp_path_factory.mktemp("comfy-inprocess")))


@pytest.fixture(scope="session")
def host_models(comfy_host, tiny_models) -> dict[str, str]:
    """The tiny checkpoints linked into the in-process host's models folders: name -> file name to load."""
    make_base_dir(comfy_host.base, models=_model_folders(tiny_models))
    return {name: path.name for name, path in tiny_models.items()}


@pytest.fixture(scope="session")
def comfy_server(comfyui_path, tiny_models, tmp_path_factory):
    """A real ComfyUI server on 127.0.0.1 with this pack in custom_nodes and the tiny models installed."""
    base = make_base_dir(tmp_path_factory.mktemp("comfy-server"), models=_model_folders(tiny_models))
    server = ComfyServer(comfyui_path, base).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def workflow_server(comfyui_path, tiny_models, tmp_path_factory):
    """A real ComfyUI server where every file the shipped workflows name exists: the tiny checkpoints under the
    real model file names, the sample inputs in input/, stand-in prompt files, and the official .pt files when
    ../shared/reference has them (harness/workflows.py)."""
    from harness.workflows import install_workflow_env

    base = install_workflow_env(make_base_dir(tmp_path_factory.mktemp("comfy-workflows")), tiny_models,
                                OFFICIAL_DIR)
    server = ComfyServer(comfyui_path, base).start()
    try:
        yield server
    finally:
        server.stop()


def _tiny_builder():
    """tools/tiny_models.py as a module (its constants say which file goes in which models folder)."""
    return load_tool("tiny_models")


def _model_folders(tiny_models: dict[str, Path]) -> dict[str, list[Path]]:
    builder = _tiny_builder()
    folders: dict[str, list[Path]] = {}
    for name, path in tiny_models.items():
        folders.setdefault(builder.MODEL_FOLDERS[name], []).append(path)
    return folders
