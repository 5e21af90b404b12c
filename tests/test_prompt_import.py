"""Tier 2 (in-process host): Import Official Restoration Prompt writes a loadable .safetensors, safely."""
import os
import shutil
from pathlib import Path

import pytest
import torch

OFFICIAL = Path(os.environ.get("UNLOCK_OFFICIAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"
                               / "ypt-official"))


@pytest.fixture
def folders(comfy_host):
    official = comfy_host.base / "models" / "prompt_embeds_official"
    prompts = comfy_host.base / "models" / "prompt_embeds"
    yield official, prompts
    for f in list(official.iterdir()) + list(prompts.iterdir()):
        f.unlink()


def _official_wan(folder: Path) -> Path:
    src = OFFICIAL / "wan_haze.pt"
    if not src.is_file():
        pytest.skip(f"official reference checkpoints not found at {OFFICIAL} (set UNLOCK_OFFICIAL_DIR); the import "
                    "node test needs wan_haze.pt")
    dst = folder / "wan_haze.pt"
    shutil.copyfile(src, dst)
    return dst


def test_import_with_text_encoding(comfy_host, folders):
    official, prompts = folders
    src = _official_wan(official)
    node = comfy_host.node("UnlockPromptImport")
    assert "wan_haze.pt" in comfy_host.folder_paths.get_filename_list("prompt_embeds_official")
    assert "wan_haze.pt" not in comfy_host.folder_paths.get_filename_list("prompt_embeds")  # never loaded directly
    enc = torch.cat([torch.randn(1, 2, 4096), torch.zeros(1, 510, 4096)], dim=1)  # the host's umT5: zero padded
    out = node.execute(official_file="wan_haze.pt", conditioning=[[enc, {}]])
    prompt = out.result[0]
    written = prompts / "ypt_wan_haze.safetensors"
    assert written.is_file()
    original = torch.load(src, weights_only=True, map_location="cpu")
    loaded = comfy_host.node("UnlockPromptLoader").execute(prompt_name="ypt_wan_haze.safetensors").result[0]
    assert torch.equal(loaded.prompt, original["deep_prompt_bank"]["prompts"][0])
    assert torch.equal(loaded.gates, torch.stack(original["alphas"]))
    assert torch.equal(loaded.null_context, enc[0, :226])
    assert loaded.provenance["degradations"] == ["haze"] and prompt.tokens == 226
    assert "Saved ypt_wan_haze.safetensors" in out.ui.as_dict()["text"][0]


def test_import_without_encoding_says_what_is_missing(comfy_host, folders):
    official, prompts = folders
    _official_wan(official)
    node = comfy_host.node("UnlockPromptImport")
    out = node.execute(official_file="wan_haze.pt", save_name="haze_plain", degradation="haze")
    assert (prompts / "haze_plain.safetensors").is_file() and not out.result[0].has_null_context
    assert "No null context stored" in out.ui.as_dict()["text"][0]
    # An existing file is never replaced silently.
    with pytest.raises(FileExistsError, match="Import Official Restoration Prompt: .*overwrite"):
        node.execute(official_file="wan_haze.pt", save_name="haze_plain")
    node.execute(official_file="wan_haze.pt", save_name="haze_plain", overwrite=True)


@pytest.mark.parametrize("name", ["../escape", "sub/dir", "..\\win", ".hidden", "a..b", "/abs/path", "c:evil"])
def test_save_names_never_escape_the_models_folder(comfy_host, folders, name):
    official, prompts = folders
    _official_wan(official)
    before = set(os.listdir(comfy_host.base)) | set(os.listdir(comfy_host.base / "models"))
    with pytest.raises(ValueError, match="not a plain file name"):
        comfy_host.node("UnlockPromptImport").execute(official_file="wan_haze.pt", save_name=name)
    assert set(os.listdir(comfy_host.base)) | set(os.listdir(comfy_host.base / "models")) == before
    assert not list(prompts.iterdir())


def test_bad_official_files_are_refused(comfy_host, folders):
    official, _ = folders
    torch.save({"something": torch.zeros(3)}, official / "not_ypt.pt")
    node = comfy_host.node("UnlockPromptImport")
    with pytest.raises(ValueError, match="Import Official Restoration Prompt: .*not an official YPT prompt"):
        node.execute(official_file="not_ypt.pt")

    class Evil:  # a pickle that would run code on a plain torch.load; weights_only refuses it
        def __reduce__(self):
            return (os.system, ("echo pwned > /tmp/unlock_restore_pwned",))
    torch.save({"backend": "wan", "x": Evil()}, official / "evil.pt")
    with pytest.raises(ValueError, match="Import Official Restoration Prompt"):
        node.execute(official_file="evil.pt")
    assert not os.path.exists("/tmp/unlock_restore_pwned")
    with pytest.raises(FileNotFoundError, match="models/prompt_embeds_official"):
        node.execute(official_file="gone.pt")
