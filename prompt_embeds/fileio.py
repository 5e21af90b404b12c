"""The restoration prompt file: one .safetensors, written atomically, read with a specific error per failure."""
from __future__ import annotations

import json
import os
import re
import secrets
import struct

import safetensors.torch as st  # module reference (not its functions) so tests can patch st.save_file

from .errors import fail
from .prompt import FORMAT_VERSION, RestorationPrompt, default_provenance

VERSION_KEY = "unlock_restore.format_version"
META_KEY = "unlock_restore.meta"
TENSORS = ("prompt", "gates", "null_context", "pooled")
SUFFIX = ".safetensors"
OFFICIAL_SUFFIXES = (".pt", ".pth")
# safetensors refuses headers above 100 MB; a larger length prefix means the bytes are not a safetensors file.
MAX_HEADER = 100_000_000

# One naming rule for every file the pack writes (workflows are shared across systems, so a name must work on all
# of them): letters, digits, '-', '_' and '.', not starting with '.', not a name Windows reserves, and short
# enough that the hidden temporary file of an atomic save (".<name>.tmp-<pid>-<8 hex>") stays within the 255-byte
# limit of common file systems.
_PORTABLE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME_LENGTH = 200  # the whole file name, extension included: 200 + len(".") + len(".tmp-<10>-<8>") <= 255
NAME_RULE = (f"letters, digits, '-', '_' and '.' only, not starting with '.', at most {MAX_NAME_LENGTH} characters "
             "with the extension, and no folders")


def file_name_problem(name: str) -> str | None:
    """What is wrong with `name` (a file name with its extension) under the naming rule, or None."""
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a folder separator"
    if len(name.encode("utf-8")) > MAX_NAME_LENGTH:
        return f"is {len(name.encode('utf-8'))} characters long (at most {MAX_NAME_LENGTH}, extension included)"
    bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad) + " (not portable: Windows or other systems refuse it)"
    if not _PORTABLE.fullmatch(name) or ".." in name:
        return "starts with '.' or contains '..'"
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        return f"is a device name Windows reserves ({name.split('.')[0]})"
    return None


_REDOWNLOAD = "The download or copy was cut off: download or copy it again, or re-save it from its source"
_NOT_SAFETENSORS = ("Replace it with a good copy (re-download it, or re-save it from the training run or import "
                    "node that made it)")


def save_prompt(prompt: RestorationPrompt, path) -> str:
    """Validate and write `prompt` to `path` (.safetensors). Atomic: the target is either the old file or the
    complete new one, never a partial file. Returns the path written."""
    path = os.fspath(path)
    if not path.lower().endswith(SUFFIX):
        raise fail("extension", f"cannot be written: the name must end in {SUFFIX}",
                   f"Choose a file name ending in {SUFFIX}", path=path)
    prompt.validate(path=path)
    tensors = {}
    for key in TENSORS:
        t = getattr(prompt, key)
        if t is not None:
            # clone(): safetensors refuses tensors sharing memory, and we must not keep views of the caller's data.
            tensors[key] = t.detach().to("cpu").contiguous().clone()
    meta = {"mode": prompt.mode, "arch": prompt.arch, "blocks": dict(prompt.blocks), "guidance": prompt.guidance,
            "t0": prompt.t0, "steps": prompt.steps, "provenance": prompt.provenance,
            "time_index": prompt.time_convention}  # resolved, so a re-saved old file keeps its convention
    metadata = {VERSION_KEY: str(FORMAT_VERSION), META_KEY: json.dumps(meta, sort_keys=True), "format": "pt"}

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Same folder as the target, so os.replace is a rename on one file system (atomic), not a copy.
    # Hidden and not ending in .safetensors, so ComfyUI's file lists never show it; pid + random part so two
    # concurrent saves of the same target never share a temp file.
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        st.save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "r+b") as f:  # r+b: Windows only fsyncs handles opened for writing
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    return path


def _fsync_dir(folder: str) -> None:
    # Makes the rename itself durable on POSIX; not possible (and not needed) on Windows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_prompt(path) -> RestorationPrompt:
    """Read and validate a restoration prompt file. Raises PromptFileError with a specific `kind`."""
    path = os.fspath(path)
    _check_path(path)
    # The header first, from one open handle: a file that is not a restoration prompt (a model or LoRA in the
    # wrong folder, gigabytes) is refused from its few header bytes, before any tensor data is read. Then one read
    # of the whole (small) file, from the same handle; no handle or memory map stays open (on Windows an open file
    # could not be replaced by a later save).
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = _read_header(path, f, size)
        meta = _read_meta(path, header)
        _check_tensor_table(path, header)
        f.seek(0)
        data = f.read()
    if len(data) != size:
        raise fail("truncated", f"changed while it was read ({size} bytes, then {len(data)})",
                   "Wait for the copy or training run writing it to finish, then queue again", path=path)
    try:
        tensors = st.load(data)
    except Exception as e:  # safetensors' own errors are not specific; the header checks above caught most
        raise fail("corrupt", f"is damaged and could not be read as safetensors ({e})", _NOT_SAFETENSORS,
                   path=path) from None
    if "prompt" not in tensors:
        raise fail("shape", "has no 'prompt' tensor", "Re-export the prompt with unlock-restore", path=path)
    prompt = RestorationPrompt(
        prompt=tensors["prompt"], gates=tensors.get("gates"), mode=meta["mode"], arch=meta["arch"],
        blocks=meta["blocks"], null_context=tensors.get("null_context"), pooled=tensors.get("pooled"),
        guidance=meta["guidance"], t0=meta["t0"], steps=meta["steps"], provenance=meta["provenance"],
        time_index=meta["time_index"], source_path=os.path.abspath(path))
    return prompt.validate(path=path)


def read_prompt_metadata(path) -> dict:
    """The stored settings (mode, arch, blocks, guidance, t0, steps, provenance) plus `format_version` and
    `tensors` ({name: {"dtype", "shape"}}), read from the header only, without loading any tensor. Library API for
    scripts that list prompt files; the nodes load whole prompts (load_prompt)."""
    path = os.fspath(path)
    _check_path(path)
    with open(path, "rb") as f:
        header = _read_header(path, f, os.fstat(f.fileno()).st_size)
    meta = _read_meta(path, header)
    meta["format_version"] = FORMAT_VERSION
    meta["tensors"] = {k: {"dtype": v["dtype"], "shape": list(v["shape"])}
                       for k, v in header.items() if k != "__metadata__"}
    return meta


def _check_path(path: str) -> None:
    lower = path.lower()
    if not lower.endswith(SUFFIX):
        if lower.endswith(OFFICIAL_SUFFIXES):
            raise fail("extension", "is a .pt/.pth checkpoint, not an unlock-restore prompt (.safetensors)",
                       "Official YPT prompt checkpoints must be converted first: use the 'Import Official "
                       "Restoration Prompt' node (or prompt_embeds.convert_official) and load the .safetensors "
                       "it writes", path=path)
        ext = os.path.splitext(path)[1] or "no extension"
        raise fail("extension", f"has the wrong file type ({ext}); restoration prompts are {SUFFIX} files",
                   f"Pick a {SUFFIX} prompt file (official .pt prompts must be imported first with the "
                   "'Import Official Restoration Prompt' node)", path=path)
    if not os.path.exists(path):
        raise fail("missing", "does not exist",
                   "Check the name and folder (models/prompt_embeds), then refresh ComfyUI (press R)", path=path)
    if not os.path.isfile(path):
        raise fail("missing", "is a folder, not a file", f"Pick the {SUFFIX} file inside it", path=path)


def _read_header(path: str, f, size: int) -> dict:
    """Parse the safetensors container ourselves (8-byte little-endian length + JSON header + data), because
    safetensors' errors do not tell a damaged file from one that was cut off."""
    if size == 0:
        raise fail("truncated", "is empty (0 bytes)", _REDOWNLOAD, path=path)
    if size < 8:
        raise fail("corrupt", f"is not a safetensors file (only {size} bytes)", _NOT_SAFETENSORS, path=path)
    (n,) = struct.unpack("<Q", f.read(8))
    if n == 0 or n > MAX_HEADER:
        raise fail("corrupt", "is not a safetensors file (its first bytes are not a safetensors header)",
                   _NOT_SAFETENSORS, path=path)
    raw = f.read(n)
    if len(raw) < n:
        # The header itself is cut. If what is there starts like a safetensors header, it was a cut-off copy.
        if raw == b"" or raw.startswith(b"{"):
            raise fail("truncated", f"is incomplete: it ends inside its header ({size} bytes on disk, the header "
                       f"alone should be {n + 8})", _REDOWNLOAD, path=path)
        raise fail("corrupt", "is not a safetensors file (its first bytes are not a safetensors header)",
                   _NOT_SAFETENSORS, path=path)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fail("corrupt", "is not a safetensors file (its header is not readable)", _NOT_SAFETENSORS,
                   path=path) from None
    if not isinstance(header, dict):
        raise fail("corrupt", "is not a safetensors file (its header is not a table of tensors)",
                   _NOT_SAFETENSORS, path=path)
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise fail("corrupt", "has a damaged header (its metadata is not text)", _NOT_SAFETENSORS,
                           path=path)
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] or not isinstance(entry.get("shape"), list)
                or not isinstance(entry.get("dtype"), str)):
            raise fail("corrupt", f"has a damaged header (entry {key!r} is malformed)", _NOT_SAFETENSORS,
                       path=path)
        end = max(end, offsets[1])
    have = size - 8 - n
    if have < end:
        raise fail("truncated", f"is incomplete: its header promises {end} bytes of tensor data but only {have} "
                   f"are there ({size} bytes on disk, {8 + n + end} expected)", _REDOWNLOAD, path=path)
    return header


# What a restoration prompt file may hold, judged from its header: only these tensors, and no more data than the
# largest prompt (K <= 4096 tokens of width <= 16384 in float64, its null context and gates) could need. Shapes
# and dtypes get their specific messages from validate(), once the (small) file is read.
MAX_DATA_BYTES = 1024 * 2**20


def _check_tensor_table(path: str, header: dict) -> None:
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    fix = ("Put only restoration prompts saved by unlock-restore in models/prompt_embeds (models, LoRAs and "
           "embeddings go in their own folders)")
    extra = sorted(set(entries) - set(TENSORS))
    if extra:
        raise fail("shape", f"holds tensors that are not part of a restoration prompt ({', '.join(extra[:3])}"
                   f"{', ...' if len(extra) > 3 else ''})", fix, path=path)
    total = max((e["data_offsets"][1] for e in entries.values()), default=0)
    if total > MAX_DATA_BYTES:
        raise fail("shape", f"holds {total / 2**20:.0f} MiB of tensor data, more than any restoration prompt "
                   f"({MAX_DATA_BYTES // 2**20} MiB at most)", fix, path=path)


def _read_meta(path: str, header: dict) -> dict:
    stored = header.get("__metadata__") or {}
    version = stored.get(VERSION_KEY)
    if version is None:
        raise fail("version", "has no unlock-restore format version, so it is not an unlock-restore restoration "
                   "prompt (perhaps a LoRA, embedding or model file in the wrong folder)",
                   "Put only prompts saved by unlock-restore in models/prompt_embeds; convert official .pt "
                   "prompts with the 'Import Official Restoration Prompt' node", path=path)
    if version != str(FORMAT_VERSION):
        if version.isdigit() and int(version) > FORMAT_VERSION:
            raise fail("version", f"was written by a newer unlock-restore (file format version {version}; this "
                       f"install reads version {FORMAT_VERSION})",
                       "Update unlock-restore (ComfyUI Manager, or git pull in custom_nodes/unlock-restore)",
                       path=path)
        raise fail("version", f"has an unknown file format version {version!r} (this install reads version "
                   f"{FORMAT_VERSION})", "Re-save the prompt with unlock-restore", path=path)
    fix = "The file's settings were damaged or edited by hand; re-export the prompt with unlock-restore"
    if META_KEY not in stored:
        raise fail("metadata", f"has no settings record ('{META_KEY}')", fix, path=path)
    try:
        meta = json.loads(stored[META_KEY])
    except json.JSONDecodeError as e:
        raise fail("metadata", f"has an unreadable settings record ('{META_KEY}' is not valid JSON: {e})", fix,
                   path=path) from None
    if not isinstance(meta, dict):
        raise fail("metadata", f"has an unreadable settings record ('{META_KEY}' is not a JSON object)", fix,
                   path=path)
    missing = [k for k in ("mode", "arch", "blocks") if k not in meta]
    if missing:
        raise fail("metadata", f"has an incomplete settings record (missing {', '.join(missing)})", fix,
                   path=path)
    if not isinstance(meta["blocks"], dict):
        raise fail("metadata", "has an invalid settings record ('blocks' is not a table of block counts)", fix,
                   path=path)
    if not isinstance(meta.get("provenance", {}), dict):
        raise fail("metadata", "has an invalid settings record ('provenance' is not a JSON object)", fix,
                   path=path)
    defaults = {"guidance": None, "t0": 0.4, "steps": 20, "provenance": default_provenance(), "time_index": None}
    return {**defaults, **meta}
