"""Find a ComfyUI checkout and import it in-process on CPU, with this pack loaded like ComfyUI loads it."""
from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK_FOLDER_NAME = "unlock-restore"  # a hyphenated name, as users clone it: proves relative imports work


@functools.cache  # once per process
def pack_on_path() -> Path:
    """The pack importable as the package `unlock_restore`, the way a user's folder is a package: a temp dir
    holding a symlink goes on sys.path. The repo root itself never does: its `nodes/` would shadow ComfyUI's
    top-level `nodes` module."""
    parent = Path(tempfile.mkdtemp(prefix="unlock-restore-pkg-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    (parent / "unlock_restore").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    return parent


@functools.cache  # one module object per tool: the harness and the tests share its classes (e.g. RunError)
def load_tool(name: str):
    """A script from tools/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"unlock_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def comfyui_candidate() -> Path:
    """Where the host is looked for: $COMFYUI_PATH, else $HOME/ComfyUI. COMFYUI_PATH may list several checkouts
    separated by ':' (tests/run.sh runs each in turn); a single pytest process uses the first."""
    listed = [p for p in os.environ.get("COMFYUI_PATH", "").split(os.pathsep) if p.strip()]
    return Path(listed[0] if listed else Path.home() / "ComfyUI").expanduser()


def find_comfyui() -> Path | None:
    """The ComfyUI checkout at `comfyui_candidate()`, or None when there is none."""
    path = comfyui_candidate()
    return path.resolve() if (path / "main.py").is_file() and (path / "comfy").is_dir() else None


def make_base_dir(base: Path, models: dict[str, list[Path]] | None = None) -> Path:
    """A scratch ComfyUI base directory: models/input/output/user/temp, with this pack in custom_nodes.

    `models` maps a models sub-folder (e.g. 'diffusion_models') to files linked into it.
    """
    for sub in ("models", "input", "output", "user", "temp", "custom_nodes"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_FOLDER_NAME
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    for folder, files in (models or {}).items():
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
        for f in files:
            dst = base / "models" / folder / Path(f).name
            if not dst.exists():
                dst.symlink_to(Path(f).resolve())
    return base


class InProcessHost:
    """ComfyUI imported into this process (CPU), builtin extra nodes and this pack registered."""

    def __init__(self, comfyui: Path, base: Path):
        self.path = comfyui
        self.base = base
        if str(comfyui) not in sys.path:
            sys.path.insert(0, str(comfyui))
        import comfy.options

        comfy.options.enable_args_parsing()
        saved_argv = sys.argv
        # Parsed once, when comfy.cli_args is first imported: --cpu or model_management asks for CUDA.
        sys.argv = [str(comfyui / "main.py"), "--cpu", "--base-directory", str(base),
                    "--database-url", "sqlite:///:memory:", "--disable-api-nodes"]
        try:
            import comfy.cli_args  # noqa: F401
            import utils.extra_config  # noqa: F401  (first, as main.py does: comfy/utils.py would take the name)
            import comfy.model_management  # noqa: F401
            import folder_paths
            import nodes
        finally:
            sys.argv = saved_argv
        self.folder_paths = folder_paths
        self.nodes = nodes
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
        pack = base / "custom_nodes" / PACK_FOLDER_NAME
        if not asyncio.run(nodes.load_custom_node(str(pack))):
            raise RuntimeError(f"ComfyUI failed to load the pack from {pack}; see the log above")

    def node(self, node_id: str):
        """The registered node class for an id (ours or ComfyUI's)."""
        return self.nodes.NODE_CLASS_MAPPINGS[node_id]
