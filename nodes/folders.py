"""The pack's model folders, registered with ComfyUI's folder_paths."""
import os

import folder_paths

from ..prompt_embeds.fileio import NAME_RULE, file_name_problem

PROMPT_FOLDER = "prompt_embeds"
PROMPT_EXTENSIONS = {".safetensors"}  # run-time loading is safetensors only; official .pt goes through import
# Official YPT checkpoints (pickles) wait here for 'Import Official Restoration Prompt'; nothing else reads them.
OFFICIAL_FOLDER = "prompt_embeds_official"
OFFICIAL_EXTENSIONS = {".pt", ".pth"}


def register_model_folders() -> None:
    """Register models/prompt_embeds and models/prompt_embeds_official (keeping extra_model_paths.yaml paths)."""
    for name, exts in ((PROMPT_FOLDER, PROMPT_EXTENSIONS), (OFFICIAL_FOLDER, OFFICIAL_EXTENSIONS)):
        default = os.path.join(folder_paths.models_dir, name)
        os.makedirs(default, exist_ok=True)
        paths, _ = folder_paths.folder_names_and_paths.get(name, ([], set()))
        paths = [default] + [p for p in paths if p != default]
        folder_paths.folder_names_and_paths[name] = (paths, set(exts))


def save_path(node: str, name: str) -> str:
    """Where a user-named prompt is written: a plain file name inside the first models/prompt_embeds folder.
    Names with folders, '..', or a leading dot are refused, so a name can never escape the models folder."""
    name = (name or "").strip()
    if not name.lower().endswith(".safetensors"):
        name += ".safetensors"
    problem = file_name_problem(name) if name[: -len(".safetensors")] else "has no name before .safetensors"
    if problem:
        raise ValueError(f"{node}: the save name {name!r} is not a plain file name: it {problem}. Use {NAME_RULE} "
                         "(it is saved in models/prompt_embeds).")
    return os.path.join(folder_paths.get_folder_paths(PROMPT_FOLDER)[0], name)


def prompt_file_path(node: str, name: str) -> str:
    """Full path of a prompt file chosen by name; folder_paths keeps the name inside the folder."""
    path = folder_paths.get_full_path(PROMPT_FOLDER, name)
    if path is None:
        folders = ", ".join(folder_paths.get_folder_paths(PROMPT_FOLDER))
        raise FileNotFoundError(
            f"{node}: no restoration prompt named '{name}' in models/{PROMPT_FOLDER} ({folders}). "
            f"Put the .safetensors file there and refresh the node list (press R), or pick one from the list."
        )
    return path
