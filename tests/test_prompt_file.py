"""Tier 1: the restoration prompt data model and its .safetensors file (round trip, atomic save, every error)."""
import json
import os

import pytest
import safetensors.torch
import torch

from unlock_restore.prompt_embeds import (FORMAT_VERSION, PromptFileError, RestorationPrompt, load_prompt,
                                          read_prompt_metadata, save_prompt)
from unlock_restore.prompt_embeds import fileio

K = 8


def flux_prompt(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return RestorationPrompt(
        prompt=torch.randn(K, 16, generator=g).to(dtype), gates=torch.randn(5, generator=g).to(dtype),
        mode="gated", arch="flux", blocks={"double": 2, "single": 3},
        null_context=torch.randn(K, 4096, generator=g), pooled=torch.randn(768, generator=g), t0=0.35, steps=12,
        provenance={"degradations": ["haze", "rain"], "base_model": "tiny-flux",
                    "training": {"lr": 0.01, "iters": [1, 2]}, "source": "trained"})


def wan_prompt():
    g = torch.Generator().manual_seed(1)
    return RestorationPrompt(prompt=torch.randn(K, 12, generator=g), gates=torch.randn(4, generator=g),
                             mode="gated", arch="wan21", blocks={"blocks": 4},
                             provenance={"degradations": ["snow"]})


def context_prompt():
    g = torch.Generator().manual_seed(2)
    return RestorationPrompt(prompt=torch.randn(K, 4096, generator=g), gates=None, mode="context", arch="wan22",
                             blocks={"blocks": 3}, null_context=torch.randn(K, 4096, generator=g))


def assert_same(a: RestorationPrompt, b: RestorationPrompt):
    for key in ("prompt", "gates", "null_context", "pooled"):
        ta, tb = getattr(a, key), getattr(b, key)
        assert (ta is None) == (tb is None), key
        if ta is not None:
            assert ta.dtype == tb.dtype and torch.equal(ta, tb), key
    for key in ("mode", "arch", "blocks", "guidance", "t0", "steps", "provenance"):
        assert getattr(a, key) == getattr(b, key), key


def write_raw(path, tensors, meta=None, version="1", extra=None):
    """A file written around save_prompt, to craft contents save_prompt would refuse."""
    metadata = {}
    if version is not None:
        metadata[fileio.VERSION_KEY] = version
    if meta is not None:
        metadata[fileio.META_KEY] = meta if isinstance(meta, str) else json.dumps(meta)
    metadata.update(extra or {})
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


WAN_META = {"mode": "gated", "arch": "wan21", "blocks": {"blocks": 4}, "guidance": None, "t0": 0.4, "steps": 20,
            "provenance": {"degradations": ["haze"]}}


def wan_tensors(**override):
    t = {"prompt": torch.randn(K, 12), "gates": torch.randn(4)}
    t.update(override)
    return {k: v for k, v in t.items() if v is not None}


@pytest.mark.parametrize("make", [flux_prompt, wan_prompt, context_prompt], ids=["flux", "wan", "context"])
def test_round_trip(make, tmp_path):
    p = make()
    target = tmp_path / "sub" / "dir" / "p.safetensors"  # parent folders are created
    save_prompt(p, target)
    back = load_prompt(target)
    assert_same(p, back)
    assert back.provenance["pack_version"] and back.provenance["source"]
    assert os.listdir(target.parent) == ["p.safetensors"]  # no temp file left behind
    meta = read_prompt_metadata(target)
    assert meta["format_version"] == FORMAT_VERSION == 1
    assert meta["arch"] == p.arch and meta["blocks"] == p.blocks
    assert meta["tensors"]["prompt"]["shape"] == list(p.prompt.shape)


def test_defaults_and_half_precision(tmp_path):
    p = flux_prompt(torch.bfloat16)
    assert p.guidance == 1.0 and wan_prompt().guidance is None
    assert (p.tokens, p.width, p.n_blocks, p.has_null_context) == (K, 16, 5, True)
    save_prompt(p, tmp_path / "bf16.safetensors")
    back = load_prompt(tmp_path / "bf16.safetensors")
    assert back.prompt.dtype == torch.bfloat16
    assert_same(p, back)
    text = wan_prompt().describe()
    assert "Wan 2.1" in text and "8 x 12" in text and "4 blocks" in text and "snow" in text
    assert "no null context" in text
    assert "2 double + 3 single" in p.describe() and "null context present" in p.describe()


def test_save_overwrites_atomically_and_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "p.safetensors"
    save_prompt(wan_prompt(), target)
    save_prompt(flux_prompt(), target)  # replace an existing file
    assert load_prompt(target).arch == "flux"
    before = target.read_bytes()

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:  # a half-written temp file, then a crash
            f.write(b"\x00" * 100)
        raise RuntimeError("disk full")

    monkeypatch.setattr(fileio.st, "save_file", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_prompt(wan_prompt(), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.safetensors"]


def test_invalid_prompt_is_not_written(tmp_path):
    p = wan_prompt()
    p.prompt[0, 0] = float("nan")
    with pytest.raises(PromptFileError) as e:
        save_prompt(p, tmp_path / "bad.safetensors")
    assert e.value.kind == "nonfinite"
    with pytest.raises(PromptFileError) as e:
        save_prompt(wan_prompt(), tmp_path / "bad.pt")
    assert e.value.kind == "extension"
    assert os.listdir(tmp_path) == []


def expect(path, kind, *substrings, reader=load_prompt):
    with pytest.raises(PromptFileError) as e:
        reader(path)
    msg = str(e.value)
    assert e.value.kind == kind, msg
    assert os.path.basename(str(path)) in msg, msg
    for s in substrings:
        assert s in msg, msg
    return msg


def test_each_failure_has_its_own_kind_and_message(tmp_path):
    messages = {}
    good = tmp_path / "good.safetensors"
    save_prompt(wan_prompt(), good)
    data = good.read_bytes()

    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(torch.randint(0, 256, (4000,), generator=torch.Generator().manual_seed(3),
                                      dtype=torch.uint8).numpy().tobytes())
    messages["corrupt"] = expect(corrupt, "corrupt", "is not a safetensors file")

    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 50])
    messages["truncated"] = expect(cut, "truncated", "incomplete", "cut off")
    cut_header = tmp_path / "cut_header.safetensors"
    cut_header.write_bytes(data[:40])  # cut inside the JSON header
    expect(cut_header, "truncated", "cut off")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    expect(empty, "truncated", "empty")

    gates = write_raw(tmp_path / "gates.safetensors", wan_tensors(gates=torch.randn(3)), WAN_META)
    messages["shape"] = expect(gates, "shape", "'gates' has shape (3,)", "expected (4,)")
    null = write_raw(tmp_path / "null.safetensors", wan_tensors(null_context=torch.randn(K, 1024)), WAN_META)
    expect(null, "shape", "'null_context' has shape (8, 1024)", "(8, 4096)")
    no_gates = write_raw(tmp_path / "nogates.safetensors", wan_tensors(gates=None), WAN_META)
    expect(no_gates, "shape", "no 'gates' tensor")

    nan = write_raw(tmp_path / "nan.safetensors", wan_tensors(gates=torch.tensor([0.0, float("nan"), 1, 2])),
                    WAN_META)
    messages["nonfinite"] = expect(nan, "nonfinite", "'gates' contains 1 NaN")
    ints = write_raw(tmp_path / "ints.safetensors", wan_tensors(prompt=torch.ones(K, 12, dtype=torch.int64)),
                     WAN_META)
    messages["dtype"] = expect(ints, "dtype", "dtype int64")

    newer = write_raw(tmp_path / "newer.safetensors", wan_tensors(), WAN_META, version="99")
    messages["version"] = expect(newer, "version", "newer unlock-restore", "version 99", "Update unlock-restore")
    expect(newer, "version", "newer unlock-restore", reader=read_prompt_metadata)
    lora = write_raw(tmp_path / "lora.safetensors", wan_tensors(), None, version=None)
    expect(lora, "version", "not an unlock-restore restoration prompt")
    odd = write_raw(tmp_path / "odd.safetensors", wan_tensors(), WAN_META, version="x1")
    expect(odd, "version", "unknown file format version 'x1'")

    bad_json = write_raw(tmp_path / "badjson.safetensors", wan_tensors(), "{not json")
    messages["metadata"] = expect(bad_json, "metadata", "not valid JSON")
    no_meta = write_raw(tmp_path / "nometa.safetensors", wan_tensors(), None)
    expect(no_meta, "metadata", "no settings record")
    arch = write_raw(tmp_path / "arch.safetensors", wan_tensors(), {**WAN_META, "arch": "sd15"})
    expect(arch, "metadata", "'sd15' is unknown")
    t0 = write_raw(tmp_path / "t0.safetensors", wan_tensors(), {**WAN_META, "t0": 1.5})
    expect(t0, "metadata", "t0=1.5")

    messages["extension"] = expect(tmp_path / "wan_haze.pt", "extension", "Import Official Restoration Prompt")
    expect(tmp_path / "prompt.bin", "extension", "wrong file type (.bin)")
    messages["missing"] = expect(tmp_path / "nothere.safetensors", "missing", "does not exist")

    # Every message says what to do, and no two kinds share a wording.
    bodies = {k: m.split(": ", 1)[1] for k, m in messages.items()}
    assert len(set(bodies.values())) == len(bodies)
    assert all(m.count(". ") >= 1 for m in messages.values())


def test_validate_rules():
    def kind(p):
        with pytest.raises(PromptFileError) as e:
            p.validate()
        return e.value.kind

    p = context_prompt()
    p.prompt = torch.randn(K, 3072)  # context mode must be 4096 wide
    assert kind(p) == "shape"
    p = context_prompt()
    p.gates = torch.zeros(3)
    assert kind(p) == "shape"
    p = wan_prompt()
    p.pooled = torch.zeros(768)  # pooled is FLUX only
    assert kind(p) == "shape"
    p = flux_prompt()
    p.pooled = torch.zeros(512)
    assert kind(p) == "shape"
    p = flux_prompt()
    p.blocks = {"blocks": 5}  # FLUX needs double/single
    assert kind(p) == "metadata"
    p = wan_prompt()
    p.steps = 0
    assert kind(p) == "metadata"
    p = wan_prompt()
    p.mode = "lora"
    assert kind(p) == "metadata"
    p = wan_prompt()
    p.null_context = torch.full((K, 4096), float("inf"))
    assert kind(p) == "nonfinite"
    assert wan_prompt().validate() is not None
