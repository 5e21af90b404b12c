#!/usr/bin/env bash
# The tiny-model demo on a fresh machine: builds the test environment (torch==2.13.0 CPU and ComfyUI's own
# requirements, cached in ~/.cache/unlock-restore), then runs tools/demo.py with it.
#   bash tools/demo.sh /path/to/ComfyUI [OUT]     (OUT defaults to ./unlock_demo)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=${1:-${COMFYUI_PATH:-}}
if [ -z "$HOST" ] || [ ! -f "$HOST/main.py" ]; then
  echo "usage: bash tools/demo.sh /path/to/ComfyUI [OUT]  (a ComfyUI checkout with main.py)" >&2; exit 2
fi
HOST=$(cd "$HOST" && pwd)
OUT=$(realpath -m "${2:-unlock_demo}")
PY=$(COMFYUI_PATH="$HOST" bash "$ROOT/tests/run.sh" --print-python | tail -1)
exec "$PY" "$ROOT/tools/demo.py" --comfyui "$HOST" --out "$OUT"
