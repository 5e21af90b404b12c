"""Tier 2 (real server): node ids, input names, input order and outputs are a public contract (saved workflows
store widget values by position). This fails when any of them changes; appending inputs at the end passes.

To record an intended addition: UNLOCK_WRITE_SNAPSHOT=1 bash tests/run.sh -k schema_snapshot
"""
import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("schema_snapshot.json")


def _contract(info: dict) -> dict:
    order = info.get("input_order", {})
    return {"inputs": list(order.get("required", [])) + list(order.get("optional", [])),
            "required": list(order.get("required", [])),
            "outputs": list(info.get("output", [])), "output_names": list(info.get("output_name", []))}


def test_node_contract_is_unchanged(comfy_server):
    info = comfy_server.get("/object_info")
    current = {nid: _contract(v) for nid, v in sorted(info.items()) if v.get("python_module", "").endswith(
        "unlock-restore") or nid.startswith("Unlock")}
    assert current, "no unlock-restore nodes registered"
    if os.environ.get("UNLOCK_WRITE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    saved = json.loads(SNAPSHOT.read_text())
    problems = []
    for nid, want in saved.items():
        got = current.get(nid)
        if got is None:
            problems.append(f"{nid}: node id removed or renamed (deprecate instead)")
            continue
        if got["inputs"][:len(want["inputs"])] != want["inputs"]:
            problems.append(f"{nid}: inputs were {want['inputs']}, now {got['inputs']} (only appending is allowed)")
        if [r for r in got["required"] if r not in want["required"]] and set(want["inputs"]) - set(want["required"]):
            problems.append(f"{nid}: a new required input shifts the saved optional widgets; append it as optional")
        if got["outputs"][:len(want["outputs"])] != want["outputs"] or \
                got["output_names"][:len(want["output_names"])] != want["output_names"]:
            problems.append(f"{nid}: outputs were {want['outputs']} {want['output_names']}, now {got['outputs']} "
                            f"{got['output_names']}")
    assert not problems, "\n".join(problems)
    new = sorted(set(current) - set(saved))
    assert not new or os.environ.get("UNLOCK_WRITE_SNAPSHOT"), f"new nodes {new}: record them in the snapshot"
