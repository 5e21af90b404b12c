"""Tier 1: import of the official YPT prompt checkpoints (.pt) into restoration prompt files, bit for bit."""
import logging
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from unlock_restore.prompt_embeds import PromptFileError, convert_official, load_official, load_prompt

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_DIR = Path(os.environ.get("UNLOCK_OFFICIAL_DIR", REPO.parent / "shared" / "reference" / "ypt-official"))
WAN_FILES = sorted(OFFICIAL_DIR.glob("wan_*.pt")) if OFFICIAL_DIR.is_dir() else []
SKIP = (f"official YPT checkpoints not found: no wan_*.pt in {OFFICIAL_DIR} (set UNLOCK_OFFICIAL_DIR to the folder "
        "holding them). Would test: each converts to .safetensors with P and the 30 gates bit-identical, "
        "arch wan21, K=226, D=1536, and the missing-null-context warning.")


def official_files():
    if not WAN_FILES:
        pytest.skip(SKIP)
    return WAN_FILES


def read_reference(src):
    """The official file read independently of the package."""
    ref = torch.load(src, weights_only=True, map_location="cpu")
    return ref["deep_prompt_bank"]["prompts"], ref["alphas"]


@pytest.mark.parametrize("name", [p.name for p in WAN_FILES] or ["wan_*.pt"])
def test_wan_official_converts_bit_exact(name, tmp_path, caplog):
    official_files()
    src = OFFICIAL_DIR / name
    prompts, alphas = read_reference(src)
    dst = tmp_path / f"{src.stem}.safetensors"
    with caplog.at_level(logging.WARNING, logger="unlock_restore"):
        convert_official(src, dst)
    warnings = [r.getMessage() for r in caplog.records if r.name == "unlock_restore"]
    assert any("no null context" in m and name in m and "umT5-XXL" in m and "226 tokens x 4096" in m
               for m in warnings), warnings

    back = load_prompt(dst)
    assert prompts.shape == (1, 226, 1536) and len(alphas) == 30
    assert back.prompt.dtype == torch.float32 and torch.equal(back.prompt, prompts[0])
    assert torch.equal(back.gates, torch.stack(alphas))
    for i, a in enumerate(alphas):  # gate order preserved, block by block
        assert back.gates[i].item() == a.item()
    assert (back.arch, back.mode, back.blocks) == ("wan21", "gated", {"blocks": 30})
    assert (back.tokens, back.width, back.guidance, back.t0, back.steps) == (226, 1536, None, 0.4, 20)
    assert back.null_context is None and back.pooled is None and not back.has_null_context
    assert back.provenance["degradations"] == [src.stem[len("wan_"):]]
    assert back.provenance["source"] == f"official:{name}"
    assert back.provenance["base_model"] == "Wan2.1-T2V-1.3B"


def test_wan_official_with_null_context(tmp_path, caplog):
    src = official_files()[0]
    null = torch.randn(1, 226, 4096, generator=torch.Generator().manual_seed(0))
    dst = tmp_path / "with_null.safetensors"
    with caplog.at_level(logging.WARNING, logger="unlock_restore"):
        convert_official(src, dst, null_context=null, degradation="mist")
    assert not [r for r in caplog.records if r.name == "unlock_restore"]
    back = load_prompt(dst)
    assert back.has_null_context and torch.equal(back.null_context, null[0])
    assert back.provenance["degradations"] == ["mist"]
    assert torch.equal(back.prompt, read_reference(src)[0][0])


def test_wan_official_wrong_null_context_length(tmp_path):
    src = official_files()[0]
    with pytest.raises(PromptFileError) as e:
        load_official(src, null_context=torch.zeros(1, 512, 4096))
    assert e.value.kind == "shape"
    assert "512 tokens" in str(e.value) and "K=226" in str(e.value) and src.name in str(e.value)
    with pytest.raises(PromptFileError) as e:
        load_official(src, null_context=torch.zeros(226, 1536))
    assert e.value.kind == "shape" and "(226, 4096)" in str(e.value)
    with pytest.raises(PromptFileError) as e:
        load_official(src, pooled=torch.zeros(768))
    assert e.value.kind == "shape" and "Wan" in str(e.value)


def fake_flux(path, n_alphas=57, K=6, D=10):
    g = torch.Generator().manual_seed(4)
    obj = {"backend": "flux", "deep_prompt_bank": OrderedDict(prompts=torch.randn(1, K, D, generator=g)),
           "alphas": [torch.tensor(i / 100.0) for i in range(n_alphas)]}
    torch.save(obj, path)
    return obj


def test_flux_format_official(tmp_path, caplog):
    src = tmp_path / "flux_lowlight.pt"
    obj = fake_flux(src)
    with caplog.at_level(logging.WARNING, logger="unlock_restore"):
        p = load_official(src)
    assert any("T5-XXL" in r.getMessage() and "pooled" in r.getMessage() for r in caplog.records)
    assert (p.arch, p.blocks, p.guidance) == ("flux", {"double": 19, "single": 38}, 1.0)
    assert torch.equal(p.prompt, obj["deep_prompt_bank"]["prompts"][0])
    assert torch.equal(p.gates, torch.stack(obj["alphas"]))  # 19 double then 38 single, as stored
    assert p.provenance["degradations"] == ["lowlight"] and p.provenance["base_model"] == "FLUX.1-dev"

    null, pooled = torch.randn(6, 4096), torch.randn(1, 768)
    back_path = tmp_path / "out" / "flux_lowlight.safetensors"
    convert_official(src, back_path, null_context=null, pooled=pooled)
    back = load_prompt(back_path)
    assert torch.equal(back.null_context, null) and torch.equal(back.pooled, pooled[0])
    assert torch.equal(back.gates, p.gates) and torch.equal(back.prompt, p.prompt)


def test_official_format_errors(tmp_path):
    def kind(path, *substrings):
        with pytest.raises(PromptFileError) as e:
            load_official(path)
        for s in substrings:
            assert s in str(e.value), str(e.value)
        assert path.name in str(e.value)
        return e.value.kind

    bad56 = tmp_path / "flux_56.pt"
    fake_flux(bad56, n_alphas=56)
    assert kind(bad56, "56 gates", "57") == "official_format"

    wrong = tmp_path / "wrong.pt"
    torch.save({"foo": torch.zeros(3)}, wrong)
    assert kind(wrong, "not an official YPT prompt checkpoint", "missing backend") == "official_format"
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_only)
    assert kind(tensor_only, "holds a Tensor") == "official_format"
    no_batch = tmp_path / "nobatch.pt"
    torch.save({"backend": "wan", "deep_prompt_bank": {"prompts": torch.zeros(4, 8)},
                "alphas": [torch.tensor(0.0)]}, no_batch)
    assert kind(no_batch, "shape (4, 8)") == "official_format"
    backend = tmp_path / "sd.pt"
    torch.save({"backend": "sd15", "deep_prompt_bank": {"prompts": torch.zeros(1, 4, 8)},
                "alphas": [torch.tensor(0.0)]}, backend)
    assert kind(backend, "'sd15'") == "official_format"
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"backend": "wan", "x": Path("not-a-tensor")}, unsafe)
    assert kind(unsafe, "not loaded") == "official_format"

    cut = tmp_path / "cut.pt"
    fake_flux(cut)
    cut.write_bytes(cut.read_bytes()[:300])
    assert kind(cut, "incomplete") == "truncated"
    assert kind(tmp_path / "absent.pt", "does not exist") == "missing"
    assert kind(tmp_path / "prompt.safetensors", "Load Restoration Prompt") == "extension"
    with pytest.raises(PromptFileError) as e:
        convert_official(wrong, tmp_path / "out.pt")
    assert e.value.kind == "extension" and not (tmp_path / "out.pt").exists()
