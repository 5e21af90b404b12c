#!/usr/bin/env python3
"""Run a ComfyUI workflow headless: submit it, show progress, fetch the outputs. Stdlib only.

    # against a running ComfyUI (default http://127.0.0.1:8188)
    python tools/unlock_run.py workflows/api/flux_restore_image.json --image hazy.jpg --out restored/

    # or start one on 127.0.0.1 from a checkout (stopped again at the end)
    python tools/unlock_run.py WORKFLOW.json --comfyui ~/ComfyUI [--python ~/ComfyUI/venv/bin/python] ...

    # a whole folder: one job per image (or video) in it, outputs named after the inputs
    python tools/unlock_run.py workflows/api/flux_restore_image.json --batch photos/ --out restored/

WORKFLOW is API format (the editor's "Export (API)", or workflows/api/*.json) or the UI format the editor saves
(workflows/*.json); UI files are converted with the server's node schemas, as the editor does.

Overrides (each must match a node in the workflow, or the run stops before submitting):
  --image FILE / --video FILE   uploaded, then set on the Load Image / Load Video node
  --batch DIR                   every image (or video) in DIR in turn through that node
  --folder DIR                  uploaded as the training folder of Load Image Folder
  --prompt NAME                 the prompt file of Load Restoration Prompt (models/prompt_embeds)
  --seed N, --steps N           every seed / sampling-steps input (restore, schedule, noise)
  --train-steps N               Train Restoration Prompt's steps
  --set ID.INPUT=VALUE          any input of any node (VALUE parsed as JSON, else taken as a string)

Exit codes: 0 success, 2 bad workflow or arguments, 3 no server, 4 nodes missing on the server, 5 the server
rejected the workflow (validation), 6 a node failed while running, 7 timeout.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"}
SEED_INPUTS = ("seed", "noise_seed")
SAMPLING_STEP_NODES = ("UnlockRestore", "UnlockBridgeSigmas", "KSampler", "BasicScheduler")
UI_ONLY_NODES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


class RunError(Exception):
    """A failure with an exit code and a message that says what to do."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------------------------------------------
class Client:
    def __init__(self, url: str, client_id: str | None = None):
        self.url = url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex

    def _open(self, req, timeout):
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
            raise RunError(f"no ComfyUI answers at {self.url} ({getattr(e, 'reason', e)}). Start ComfyUI "
                           "(python main.py --listen 127.0.0.1), pass --server URL, or pass --comfyui PATH to start "
                           "one from a checkout.", 3) from e

    def request(self, method: str, path: str, body=None, timeout: float = 60.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with self._open(req, timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 60.0):
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise RunError(f"GET {path} answered {status}: {body}", 3)
        return body

    def upload(self, path: Path, subfolder: str = "") -> str:
        """POST /upload/image (any file: the editor uploads videos the same way); returns the input name to use."""
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in (("type", "input"), ("subfolder", subfolder), ("overwrite", "true")):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        req = urllib.request.Request(self.url + "/upload/image", data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with self._open(req, 300) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RunError(f"uploading {path} failed: {e.code} {e.read().decode(errors='replace')}", 2) from e
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def download(self, item: dict, dest: Path) -> Path:
        query = urllib.parse.urlencode({k: item.get(k, "") for k in ("filename", "subfolder", "type")})
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        with self._open(urllib.request.Request(f"{self.url}/view?{query}"), 300) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        os.replace(tmp, dest)  # never a half-written output file
        return dest


# ---------------------------------------------------------------------------------------------------------------
# Progress over the websocket (a minimal RFC 6455 client: text frames only, previews are skipped)
# ---------------------------------------------------------------------------------------------------------------
class Progress(threading.Thread):
    def __init__(self, client: Client, out=sys.stderr):
        super().__init__(daemon=True)
        self.client, self.out = client, out
        self.sock: socket.socket | None = None
        self.node_types: dict[str, str] = {}
        self.prompt_id: str | None = None
        self.label = ""

    def connect(self) -> bool:
        u = urllib.parse.urlparse(self.client.url)
        try:
            self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
            key = base64.b64encode(os.urandom(16)).decode()
            self.sock.sendall((f"GET /ws?clientId={self.client.client_id} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.sock.recv(1024)
                if not chunk:
                    return False
                head += chunk
            self._buf = head.split(b"\r\n\r\n", 1)[1]
            self.sock.settimeout(None)
            return head.startswith(b"HTTP/1.1 101")
        except OSError:
            return False  # progress is a nicety: the run itself polls /history

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def run(self):
        try:
            while True:
                b0, b1 = self._read(2)
                length = b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._read(8))[0]
                payload = self._read(length)
                opcode = b0 & 0x0F
                if opcode == 8:
                    return
                if opcode == 1:
                    self._show(json.loads(payload))
        except (OSError, ConnectionError, ValueError):
            return

    def _show(self, msg: dict):
        data = msg.get("data") or {}
        if self.prompt_id is None or data.get("prompt_id") not in (None, self.prompt_id):
            return
        node = data.get("node")
        what = f"{node} {self.node_types.get(str(node), '')}".strip()
        if msg.get("type") == "progress":
            line = f"{self.label} {what}: {data.get('value')}/{data.get('max')}"
        elif msg.get("type") == "executing" and node is not None:
            line = f"{self.label} running {what}"
        else:
            return
        if self.out.isatty():
            self.out.write("\r\033[K" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------------------------
# A ComfyUI started from a checkout, on 127.0.0.1 only
# ---------------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A throwaway server (demo, soak, tests): CPU only, an in-memory database, no paid API nodes.
SCRATCH_ARGS = ("--cpu", "--database-url", "sqlite:///:memory:", "--disable-api-nodes")


class LocalServer:
    """`python main.py --listen 127.0.0.1` in its own process group; stop() ends the whole group."""

    def __init__(self, comfyui: Path, python: str = sys.executable, base_directory: Path | None = None,
                 extra_args: list[str] | None = None, log_path: Path | None = None):
        self.comfyui = Path(comfyui).expanduser().resolve()
        if not (self.comfyui / "main.py").is_file():
            raise RunError(f"{self.comfyui} is not a ComfyUI checkout (no main.py). Pass --comfyui /path/to/ComfyUI.")
        self.python, self.base, self.extra = python, base_directory, list(extra_args or [])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path or Path(tempfile.mkdtemp(prefix="unlock-comfy-")) / "server.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300.0) -> "LocalServer":
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
               *self.extra]
        if self.base is not None:
            cmd += ["--base-directory", str(self.base)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.comfyui, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        client, deadline = Client(self.url), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"ComfyUI exited with code {self.proc.returncode} while starting; log "
                               f"{self.log_path}:\n{self.log_tail()}", 3)
            try:
                client.get("/system_stats", timeout=2)
                return self
            except RunError:
                time.sleep(0.25)
        self.stop()
        raise RunError(f"ComfyUI did not answer on {self.url} within {timeout:.0f} s; log {self.log_path}:\n"
                       f"{self.log_tail()}", 3)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self._log.close()
        self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"


# ---------------------------------------------------------------------------------------------------------------
# Workflows: UI -> API, overrides
# ---------------------------------------------------------------------------------------------------------------
def is_ui_format(workflow: dict) -> bool:
    return isinstance(workflow.get("nodes"), list) and "links" in workflow


def _widget_names(spec: dict) -> list[tuple[str, bool]]:
    """(input name, followed by a 'control after generate' value) for each widget input, in schema order."""
    names = []
    for section in ("required", "optional"):
        for name, entry in (spec.get("input", {}).get(section) or {}).items():
            kind = entry[0] if isinstance(entry, (list, tuple)) else entry
            opts = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 else {}
            widget = isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
            if widget:
                names.append((name, bool(opts.get("control_after_generate"))))
    return names


def _upload_widget(spec: dict, name: str) -> bool:
    entry = {**(spec.get("input", {}).get("required") or {}), **(spec.get("input", {}).get("optional") or {})}[name]
    opts = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 else {}
    return any(opts.get(k) for k in ("image_upload", "video_upload", "audio_upload", "upload"))


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """The API graph of a UI workflow, as the editor's 'Export (API)' builds it: Notes and muted nodes dropped,
    reroutes and bypassed nodes followed through, widget values matched to inputs by schema order."""
    nodes = {str(n["id"]): n for n in workflow["nodes"]}
    links = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            links[link["id"]] = (str(link["origin_id"]), link["origin_slot"])
        else:  # [id, origin_id, origin_slot, target_id, target_slot, type]
            links[link[0]] = (str(link[1]), link[2])

    def source(link_id):
        """Follow a link back through reroutes and bypassed nodes to a real output: [node_id, slot] or None."""
        for _ in range(len(nodes) + 1):
            if link_id is None or link_id not in links:
                return None
            nid, slot = links[link_id]
            node = nodes.get(nid)
            if node is None:
                return None
            if node["type"] == "Reroute":
                link_id = (node.get("inputs") or [{}])[0].get("link")
            elif node.get("mode") == 4:  # bypassed: the first input of the output's type passes through
                out_type = node["outputs"][slot]["type"]
                link_id = next((i.get("link") for i in node.get("inputs", []) if i.get("type") == out_type), None)
            elif node.get("mode") == 2:
                return None
            else:
                return [nid, slot]
        raise RunError("the workflow's links form a cycle through reroutes or bypassed nodes")

    api = {}
    for nid, node in nodes.items():
        kind = node["type"]
        if kind in UI_ONLY_NODES or node.get("mode") in (2, 4):
            continue
        spec = object_info.get(kind)
        if spec is None:
            raise RunError(f"node {nid} '{kind}' is not installed on this server", 4)
        inputs = {}
        values = node.get("widgets_values")
        if isinstance(values, dict):
            inputs.update({k: v for k, v in values.items() if k in dict(_widget_names(spec))})
        elif values:
            queue = list(values)
            for name, control in _widget_names(spec):
                if not queue:
                    break
                inputs[name] = queue.pop(0)
                # The editor adds a 'control after generate' value after flagged inputs and, by name, after any
                # seed input; a control word can never be an INT's value, so it is safe to recognise by content.
                if (control or name in SEED_INPUTS) and queue and queue[0] in ("fixed", "increment", "decrement",
                                                                                "randomize"):
                    queue.pop(0)
                if queue and _upload_widget(spec, name) and queue[0] in ("image", "video", "audio", None, ""):
                    queue.pop(0)
        for inp in node.get("inputs", []):
            src = source(inp.get("link"))
            if src is not None:
                inputs[inp["name"]] = src
        entry = {"class_type": kind, "inputs": inputs}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        api[nid] = entry
    return api


def load_workflow(path: Path, client: Client | None) -> dict:
    try:
        workflow = json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise RunError(f"workflow file {path} does not exist") from e
    except ValueError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from e
    if isinstance(workflow, dict) and "prompt" in workflow and isinstance(workflow["prompt"], dict):
        workflow = workflow["prompt"]  # a saved POST /prompt body
    if not isinstance(workflow, dict) or not workflow:
        raise RunError(f"{path} holds no workflow (expected an API graph or a UI workflow)")
    if is_ui_format(workflow):
        if client is None:
            raise RunError(f"{path} is a UI workflow; converting it needs a server's node schemas")
        return ui_to_api(workflow, client.get("/object_info"))
    if not all(isinstance(v, dict) and "class_type" in v for v in workflow.values()):
        raise RunError(f"{path} is neither API format ({{id: {{class_type, inputs}}}}) nor a UI workflow")
    return workflow


def nodes_of(graph: dict, *class_types: str) -> list[str]:
    return [nid for nid, n in graph.items() if n["class_type"] in class_types]


def _one(graph: dict, option: str, *class_types: str) -> str:
    found = nodes_of(graph, *class_types)
    if len(found) != 1:
        where = ", ".join(found) or "none"
        raise RunError(f"{option} needs exactly one {' or '.join(class_types)} node in the workflow (found: "
                       f"{where}); use --set ID.INPUT=VALUE to choose one")
    return found[0]


def parse_set(items: list[str]) -> list[tuple[str, str, object]]:
    out = []
    for item in items or []:
        target, sep, raw = item.partition("=")
        nid, dot, name = target.partition(".")
        if not sep or not dot or not nid or not name:
            raise RunError(f"--set {item!r}: expected ID.INPUT=VALUE, e.g. --set 5.t0=0.5")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.append((nid, name, value))
    return out


def apply_overrides(graph: dict, args, uploaded: dict[str, str]) -> dict:
    graph = json.loads(json.dumps(graph))
    if "image" in uploaded:
        graph[_one(graph, "--image/--batch", "LoadImage")]["inputs"]["image"] = uploaded["image"]
    if "video" in uploaded:
        graph[_one(graph, "--video/--batch", "LoadVideo")]["inputs"]["file"] = uploaded["video"]
    if "folder" in uploaded:
        graph[_one(graph, "--folder", "UnlockImageFolder")]["inputs"]["folder"] = uploaded["folder"]
    if args.prompt:
        graph[_one(graph, "--prompt", "UnlockPromptLoader")]["inputs"]["prompt_name"] = args.prompt
    if args.seed is not None:
        hit = [n for n in graph.values() for k in SEED_INPUTS if k in n["inputs"]
               and not isinstance(n["inputs"][k], list)]
        if not hit:
            raise RunError("--seed: the workflow has no seed input")
        for n in hit:
            for k in SEED_INPUTS:
                if k in n["inputs"]:
                    n["inputs"][k] = args.seed
    if args.steps is not None:
        hit = nodes_of(graph, *SAMPLING_STEP_NODES)
        if not hit:
            raise RunError(f"--steps: the workflow has no sampling node ({', '.join(SAMPLING_STEP_NODES)})")
        for nid in hit:
            graph[nid]["inputs"]["steps"] = args.steps
    if args.train_steps is not None:
        graph[_one(graph, "--train-steps", "UnlockPromptTrain")]["inputs"]["steps"] = args.train_steps
    for nid, name, value in parse_set(args.set):
        if nid not in graph:
            raise RunError(f"--set {nid}.{name}: the workflow has no node {nid} (it has {', '.join(graph)})")
        graph[nid]["inputs"][name] = value
    return graph


# ---------------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------------
def check_nodes(graph: dict, object_info: dict) -> None:
    missing = sorted({(nid, n["class_type"]) for nid, n in graph.items() if n["class_type"] not in object_info})
    if missing:
        names = ", ".join(f"{t} (node {nid})" for nid, t in missing)
        hint = (" Install unlock-restore into ComfyUI/custom_nodes and restart ComfyUI."
                if any(t.startswith("Unlock") for _, t in missing) else " Install the node pack that provides them.")
        raise RunError(f"this server does not have: {names}.{hint}", 4)


def _format_node_errors(body) -> str:
    if not isinstance(body, dict):
        return str(body)
    lines = [body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else str(body)]
    for nid, err in (body.get("node_errors") or {}).items():
        for e in err.get("errors", []):
            lines.append(f"  node {nid} {err.get('class_type', '')}: {e.get('message')} - {e.get('details')}")
    return "\n".join(line for line in lines if line)


def submit(client: Client, graph: dict) -> str:
    status, body = client.request("POST", "/prompt", {"prompt": graph, "client_id": client.client_id})
    if status != 200:
        raise RunError(f"the server rejected the workflow:\n{_format_node_errors(body)}", 5)
    return body["prompt_id"]


def wait(client: Client, prompt_id: str, timeout: float, server: LocalServer | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = client.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("status_str") in ("success", "error"):
            return entry
        if server is not None and not server.alive():
            raise RunError(f"ComfyUI stopped while running the workflow:\n{server.log_tail()}", 6)
        time.sleep(0.25)
    raise RunError(f"the workflow did not finish within {timeout:.0f} s (prompt {prompt_id}; still queued or "
                   "running on the server)", 7)


def execution_error(entry: dict) -> str | None:
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return (f"node {data.get('node_id')} {data.get('node_type')} failed: {data.get('exception_message', '')}"
                    .strip())
        if kind == "execution_interrupted":
            return f"interrupted at node {data.get('node_id')} {data.get('node_type')}"
    return "the workflow failed (no error message in the server's history)"


def output_items(entry: dict, previews: bool = False):
    """(node id, item) for every file a node saved (images, videos, gifs, audio); with previews, also the
    temporary previews (Preview Image, e.g. a training loss graph)."""
    for nid, out in (entry.get("outputs") or {}).items():
        for key in ("images", "gifs", "videos", "video", "audio"):
            for item in out.get(key, []) or []:
                if isinstance(item, dict) and item.get("filename") and (previews or item.get("type") != "temp"):
                    yield nid, item


def run_job(client: Client, graph: dict, out_dir: Path | None, label: str, timeout: float,
            server: LocalServer | None = None, progress: bool = True, previews: bool = False) -> dict:
    """Submit one graph, wait, download its outputs; returns a report dict. Raises RunError on failure."""
    start = time.monotonic()
    prog = Progress(client) if progress else None
    if prog is not None and prog.connect():
        prog.node_types = {nid: n["class_type"] for nid, n in graph.items()}
        prog.label = label
        prog.start()
    else:
        prog = None
    try:
        prompt_id = submit(client, graph)
        if prog is not None:
            prog.prompt_id = prompt_id
        entry = wait(client, prompt_id, timeout, server)
    finally:
        if prog is not None:
            prog.close()
            if sys.stderr.isatty():
                sys.stderr.write("\n")
    seconds = time.monotonic() - start
    if entry["status"]["status_str"] != "success":
        raise RunError(f"{label}: {execution_error(entry)}", 6)
    files = []
    for nid, item in output_items(entry, previews):
        if out_dir is not None:
            name = f"{label}_{item['filename']}" if label else item["filename"]
            files.append(str(client.download(item, out_dir / name)))
        else:
            files.append(item["filename"])
    texts = {nid: out["text"] for nid, out in (entry.get("outputs") or {}).items() if out.get("text")}
    return {"label": label, "prompt_id": prompt_id, "seconds": round(seconds, 2), "files": files, "text": texts}


def _batch_inputs(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise RunError(f"--batch {directory}: not a folder")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
    if not files:
        raise RunError(f"--batch {directory}: no images or videos in it ({', '.join(sorted(IMAGE_EXTS | VIDEO_EXTS))})")
    return files


def _upload_kind(path: Path) -> str:
    if not path.is_file():
        raise RunError(f"input file {path} does not exist")
    return "video" if path.suffix.lower() in VIDEO_EXTS else "image"


def run(args) -> list[dict]:
    server = None
    if args.comfyui:
        extra = list(args.server_arg or [])
        server = LocalServer(args.comfyui, python=args.python or sys.executable,
                             base_directory=args.base_directory, extra_args=extra).start()
        print(f"[unlock_run] started ComfyUI at {server.url} (log {server.log_path})", file=sys.stderr)
    client = Client(server.url if server else args.server)
    try:
        object_info = client.get("/object_info")
        graph = load_workflow(args.workflow, client)
        check_nodes(graph, object_info)
        uploaded: dict[str, str] = {}
        for kind in ("image", "video"):
            path = getattr(args, kind)
            if path:
                if _upload_kind(Path(path)) != kind:
                    raise RunError(f"--{kind} {path}: that does not look like a{'n' if kind == 'image' else ''} "
                                   f"{kind} file")
                uploaded[kind] = client.upload(Path(path))
        if args.folder:
            folder = Path(args.folder)
            images = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS] if folder.is_dir() else []
            if not images:
                raise RunError(f"--folder {folder}: no images in it")
            sub = f"unlock_run_{folder.name}"
            for p in images:
                client.upload(p, subfolder=sub)
            uploaded["folder"] = sub
        out_dir = Path(args.out) if args.out else None
        jobs = []
        if args.batch:
            for path in _batch_inputs(Path(args.batch)):
                kind = _upload_kind(path)
                jobs.append((path.stem, {**uploaded, kind: client.upload(path)}))
        else:
            jobs.append((args.label or Path(args.workflow).stem, uploaded))
        reports = []
        for label, ups in jobs:
            graph_i = apply_overrides(graph, args, ups)
            try:
                report = run_job(client, graph_i, out_dir, label, args.timeout, server, progress=not args.quiet,
                                 previews=args.previews)
            except RunError as e:
                if not args.batch or e.code in (3, 4):
                    raise
                report = {"label": label, "error": str(e)}  # a batch goes on; the exit code says some failed
            print(json.dumps(report), flush=True)
            reports.append(report)
        return reports
    finally:
        if server is not None:
            server.stop()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="unlock_run", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow", type=Path, help="API or UI workflow JSON")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--server", default="http://127.0.0.1:8188", help="a running ComfyUI (default %(default)s)")
    where.add_argument("--comfyui", type=Path, help="start ComfyUI from this checkout on 127.0.0.1, stop it after")
    ap.add_argument("--python", help="the Python that runs ComfyUI (with --comfyui; default: this one)")
    ap.add_argument("--base-directory", type=Path, help="ComfyUI's --base-directory (with --comfyui)")
    ap.add_argument("--server-arg", action="append", help="extra ComfyUI argument (with --comfyui), e.g. --cpu")
    ap.add_argument("--image", help="input image for Load Image")
    ap.add_argument("--video", help="input video for Load Video")
    ap.add_argument("--batch", help="folder: one job per image/video in it")
    ap.add_argument("--folder", help="folder of clean photos for Load Image Folder (training)")
    ap.add_argument("--prompt", help="prompt file name in models/prompt_embeds for Load Restoration Prompt")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--steps", type=int, help="sampling steps")
    ap.add_argument("--train-steps", type=int, help="training steps")
    ap.add_argument("--set", action="append", metavar="ID.INPUT=VALUE", help="set any input (repeatable)")
    ap.add_argument("--out", help="download outputs into this folder")
    ap.add_argument("--label", help="prefix of downloaded file names (default: the workflow name)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per job (default %(default)s)")
    ap.add_argument("--previews", action="store_true", help="also download previews (e.g. a loss graph)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        reports = run(args)
    except RunError as e:
        print(f"unlock_run: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("unlock_run: interrupted", file=sys.stderr)
        return 130
    failed = [r for r in reports if "error" in r]
    for r in failed:
        print(f"unlock_run: {r['label']}: {r['error']}", file=sys.stderr)
    return 6 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
