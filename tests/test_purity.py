"""Tier 1: bridge/ and prompt_embeds/ are pure torch, importable and usable with no ComfyUI anywhere."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PURE = ("bridge", "prompt_embeds", "imaging")
HOST_MODULES = ("comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "nodes", "server",
                "execution", "node_helpers", "latent_preview")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


@pytest.mark.parametrize("package", PURE)
def test_no_host_import_in_source(package):
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    for f in files:
        depth = len(f.relative_to(REPO / package).parts)  # 1 for a file at the package's top level
        for level, module in _imports(f):
            top = module.split(".")[0]
            assert not (level == 0 and top in HOST_MODULES), f"{f}: imports host module {module!r}"
            # A relative import may not climb out of the pure package (e.g. `from ..nodes import x`).
            assert level <= depth, f"{f}: relative import leaves {package}/ ({'.' * level}{module})"


def test_import_and_use_without_comfyui(tmp_path):
    """A fresh interpreter with the ComfyUI modules made unimportable runs the pure packages end to end."""
    pkg_parent = tmp_path / "site"
    pkg_parent.mkdir()
    (pkg_parent / "unlock_restore").symlink_to(REPO, target_is_directory=True)
    code = f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {HOST_MODULES!r}:
            raise ImportError('host module imported: ' + name)
sys.meta_path.insert(0, Block())
import torch
import unlock_restore
from unlock_restore.bridge import sample_bridge, time_grid
from unlock_restore import prompt_embeds
y = torch.randn(1, 4, 8, 8); x0 = torch.randn(1, 4, 8, 8)
out = sample_bridge(lambda x, t: x0, y, torch.randn_like(y), time_grid(0.4, 5))
assert torch.equal(out, x0)
p = prompt_embeds.RestorationPrompt(prompt=torch.zeros(4, 8), gates=torch.zeros(2), mode='gated', arch='wan21',
                                    blocks={{'blocks': 2}})
prompt_embeds.save_prompt(p, {str(tmp_path / 'p.safetensors')!r})
assert prompt_embeds.load_prompt({str(tmp_path / 'p.safetensors')!r}).tokens == 4
from unlock_restore import imaging
assert imaging.plan_windows(40, 33, 8) == [(0, 33), (25, 40)]
leaked = sorted(m for m in sys.modules if m.split('.')[0] in {HOST_MODULES!r})
assert not leaked, leaked
print('PURE-OK')
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(pkg_parent)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "PURE-OK" in res.stdout, res.stdout + res.stderr


def test_pytest_collects_from_a_folder_whose_name_is_not_a_python_name(tmp_path):
    """Users clone into `unlock-restore` (the README's own command): pytest then imports the root __init__.py as a
    plain module with no parent package. That must not fail, and ComfyUI's way (the folder as a package named
    after the folder, hyphen included) must still expose the entrypoint."""
    clone = tmp_path / "unlock-restore"
    clone.symlink_to(REPO, target_is_directory=True)
    code = f"""
import importlib.util, sys
plain = importlib.util.spec_from_file_location('__init__', {str(clone / '__init__.py')!r})
m = importlib.util.module_from_spec(plain); plain.loader.exec_module(m)
assert not hasattr(m, 'comfy_entrypoint')
spec = importlib.util.spec_from_file_location('unlock-restore', {str(clone / '__init__.py')!r},
                                              submodule_search_locations=[{str(clone)!r}])
pkg = importlib.util.module_from_spec(spec); sys.modules['unlock-restore'] = pkg; spec.loader.exec_module(pkg)
assert callable(pkg.comfy_entrypoint)
print('NAME-OK')
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0 and "NAME-OK" in res.stdout, res.stdout + res.stderr
    # And pytest itself, collecting one tier-1 test file inside the hyphenated folder:
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                          str(clone / "tests" / "test_bridge.py")], cwd=clone, capture_output=True, text=True)
    assert res.returncode == 0 and "error" not in res.stdout.lower(), res.stdout[-2000:] + res.stderr[-2000:]
