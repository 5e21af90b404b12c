#!/usr/bin/env bash
# The one test command: builds (or reuses) a test environment on a fresh machine, then runs every test.
#   bash tests/run.sh [pytest args]
#   bash tests/run.sh --print-python      (builds the environment and prints its python; runs no tests)
# Tier 1 (bridge math, prompt files) always runs. Tier 2 (a real ComfyUI host) runs when a checkout is found
# at $COMFYUI_PATH, else $HOME/ComfyUI; otherwise it is skipped with one loud line saying so.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=${COMFYUI_PATH:-$HOME/ComfyUI}
CACHE=${UNLOCK_CACHE:-$HOME/.cache/unlock-restore}
PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"   # the local CPU build; pinned for every install or pip pulls CUDA wheels
ENV_RECIPE=1                # bump when the install steps below change

# pip's warnings about this machine's unreachable extra indexes drown the log; keep its real errors.
pip_quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

have_host=0
[ -f "$HOST/main.py" ] && [ -d "$HOST/comfy" ] && have_host=1

# The environment is cached outside the repository, keyed by everything that decides its contents.
key=$({ "$PYTHON" --version; cat "$ROOT/tests/requirements.txt" "$ROOT/tests/torchvision_cpu_shim.py";
        [ $have_host = 1 ] && cat "$HOST/requirements.txt"; echo "$TORCH_PIN $ENV_RECIPE"; } | sha256sum | cut -c1-16)
VENV="$CACHE/venv-$key"
if [ ! -f "$VENV/.ready" ]; then
  echo "[tests/run.sh] building test environment in $VENV"
  rm -rf "$VENV"; mkdir -p "$CACHE"
  "$PYTHON" -m venv "$VENV"
  pip=(pip_quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  cons="$VENV/constraints.txt"; echo "$TORCH_PIN" > "$cons"
  "${pip[@]}" "$TORCH_PIN"
  "${pip[@]}" -c "$cons" -r "$ROOT/tests/requirements.txt"
  if [ $have_host = 1 ]; then
    # The host's own requirements, minus the torch family (torchaudio is optional; torchvision pinned to torch).
    grep -v -E '^\s*(torch|torchvision|torchaudio)\s*$' "$HOST/requirements.txt" > "$VENV/host-requirements.txt"
    "${pip[@]}" -c "$cons" -r "$VENV/host-requirements.txt" requests "torchvision==0.28.0"
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp "$ROOT/tests/torchvision_cpu_shim.py" "$site/unlock_torchvision_cpu_shim.py"
    echo "import unlock_torchvision_cpu_shim" > "$site/unlock-torchvision-cpu-shim.pth"
  fi
  touch "$VENV/.ready"
fi

if [ $have_host = 1 ]; then
  export COMFYUI_PATH="$HOST"
  echo "[tests/run.sh] tier 2: using ComfyUI host at $HOST"
  # The browser workflow tests drive the real frontend in Debian chromium through playwright-core (pinned in
  # tools/frontend.py, installed once into the cache, never into the repo). If this fails, those tests fail and
  # say how to fix it; everything else still runs.
  if modules=$("$VENV/bin/python" "$ROOT/tools/frontend.py" install --cache "$CACHE"); then
    export UNLOCK_NODE_MODULES="$modules"
  else
    echo "[tests/run.sh] !!! could not install playwright-core: the browser workflow tests will fail !!!"
  fi
else
  echo "[tests/run.sh] !!! TIER 2 SKIPPED: no ComfyUI checkout at '$HOST'. Set COMFYUI_PATH=/path/to/ComfyUI to run the host tests. !!!"
fi
export UNLOCK_CACHE="$CACHE"
cd "$ROOT"
if [ "${1:-}" = "--print-python" ]; then  # for tools/demo.sh and .ci/run: the environment, without the tests
  echo "$VENV/bin/python"; exit 0
fi
exec "$VENV/bin/python" -m pytest tests "$@"
