"""A real ComfyUI server on 127.0.0.1, started from a checkout with a scratch base directory, stopped by PID."""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .host import load_tool

_runner = load_tool("unlock_run")
free_port = _runner.free_port


class ComfyServer(_runner.LocalServer):
    """The runner's LocalServer (its own process group, started and stopped the same way) with the scratch flags,
    plus the HTTP helpers the tests assert with (status codes, not exceptions)."""

    def __init__(self, comfyui: Path, base: Path, python: str = sys.executable, extra_args: tuple = ()):
        super().__init__(comfyui, python, base_directory=Path(base),
                         extra_args=[*_runner.SCRATCH_ARGS, *extra_args], log_path=Path(base) / "server.log")
        self.client_id = uuid.uuid4().hex

    def start(self, timeout: float = 180.0) -> "ComfyServer":
        return super().start(timeout)

    # -- HTTP --------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 30.0):
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body}")
        return body

    def queue(self, graph: dict) -> tuple[int, dict]:
        """POST /prompt; returns (HTTP status, body) so tests can assert on validation errors too."""
        return self.request("POST", "/prompt", {"prompt": graph, "client_id": self.client_id})

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict:
        """The /history entry of a finished prompt (success or error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{prompt_id}")
            if prompt_id in hist and hist[prompt_id].get("status", {}).get("completed") is not None:
                entry = hist[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def run(self, graph: dict, timeout: float = 300.0) -> dict:
        status, body = self.queue(graph)
        if status != 200:
            raise AssertionError(f"POST /prompt rejected the graph ({status}): {json.dumps(body, indent=1)}")
        return self.wait(body["prompt_id"], timeout)
