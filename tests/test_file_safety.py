"""Tier 1: names every system can store, wrong files refused from their header before any tensor is read, and the
largest value a prompt injects (checked against the model's dtype before it runs)."""
import json
import struct
import tracemalloc

import pytest
import torch

from unlock_restore.prompt_embeds import PromptFileError, RestorationPrompt, load_prompt, save_prompt
from unlock_restore.prompt_embeds.fileio import MAX_NAME_LENGTH, file_name_problem


@pytest.mark.parametrize("name", ["trained_prompt.safetensors", "flux-haze_v2.1.safetensors",
                                  "a" * (MAX_NAME_LENGTH - 12) + ".safetensors"])
def test_portable_names_pass(name):
    assert file_name_problem(name) is None


@pytest.mark.parametrize("name,words", [
    ("bad<name>.safetensors", ["'<'", "'>'", "not portable"]),
    ('q"u|o?t*e:s.safetensors', ["'\"'", "'|'", "'?'", "'*'", "':'"]),
    ("sp ace.safetensors", ["' '"]),
    ("ünïcode.safetensors", ["'ü'"]),
    ("x" * 235 + ".safetensors", ["247 characters", f"at most {MAX_NAME_LENGTH}"]),
    (".hidden.safetensors", ["starts with '.'"]),
    ("a..b.safetensors", ["'..'"]),
    ("CON.safetensors", ["Windows reserves", "CON"]),
    ("lpt1.safetensors", ["Windows reserves"]),
    ("dir/name.safetensors", ["folder separator"]),
    ("dir\\name.safetensors", ["folder separator"]),
    ("", ["empty"]),
])
def test_names_that_fail_somewhere_are_refused(name, words):
    problem = file_name_problem(name)
    assert problem, name
    for w in words:
        assert w in problem, (w, problem)


def test_the_longest_allowed_name_saves_atomically(tmp_path):
    """The temporary file of an atomic save adds its own suffix: the longest allowed name must still save."""
    name = "p" * (MAX_NAME_LENGTH - 12) + ".safetensors"
    p = RestorationPrompt(prompt=torch.zeros(2, 4), gates=torch.zeros(2), mode="gated", arch="wan21",
                          blocks={"blocks": 2})
    save_prompt(p, tmp_path / name)
    assert load_prompt(tmp_path / name).tokens == 2
    assert [f.name for f in tmp_path.iterdir()] == [name]  # no temporary file left


def _fake_model_file(path, data_bytes: int, metadata: dict | None = None):
    """A safetensors file shaped like a model checkpoint: a header naming one huge bf16 tensor, then a sparse hole
    of `data_bytes` (nothing on disk, but reading it would take that much memory)."""
    n = data_bytes // 2
    header = {"double_blocks.0.img_attn.qkv.weight": {"dtype": "BF16", "shape": [n], "data_offsets": [0, 2 * n]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + 2 * n)


@pytest.mark.parametrize("metadata,kind", [
    (None, "version"),  # a plain model file: no unlock-restore format version
    ({"unlock_restore.format_version": "1",  # a file posing as a prompt, with a model's tensor table
      "unlock_restore.meta": json.dumps({"mode": "gated", "arch": "flux", "blocks": {"double": 1, "single": 0}})},
     "shape"),
])
def test_a_model_file_is_refused_from_its_header_without_reading_it(tmp_path, metadata, kind):
    path = tmp_path / "flux1-dev.safetensors"
    _fake_model_file(path, 2 * 2**30, metadata)  # 2 GiB of "weights"
    tracemalloc.start()
    try:
        with pytest.raises(PromptFileError) as e:
            load_prompt(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.kind == kind, str(e.value)
    assert "models/prompt_embeds" in str(e.value) or "LoRA" in str(e.value), str(e.value)
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MiB allocated to refuse it"


def test_injected_peak_is_exact_in_float64():
    p = RestorationPrompt(prompt=torch.tensor([[3e38, -1.0]]), gates=torch.tensor([0.5, -2.0]), mode="gated",
                          arch="flux", blocks={"double": 1, "single": 1})
    assert p.injected_peak(1.0) == pytest.approx(6e38, rel=1e-6)  # above float32's max: computed in float64
    assert p.injected_peak(0.0) == 0.0
    p.arch, p.blocks = "wan21", {"blocks": 2}
    assert p.injected_peak(0.0) == pytest.approx(3e38, rel=1e-6)  # Wan: P itself enters the context
    c = RestorationPrompt(prompt=torch.full((2, 4096), 2.0), gates=None, mode="context", arch="wan21",
                          blocks={"blocks": 2}, null_context=torch.full((2, 4096), -3.0))
    assert c.injected_peak(0.5) == pytest.approx(4.0)
