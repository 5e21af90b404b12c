#!/usr/bin/env bash
# The one test command: builds (or reuses) a test environment per ComfyUI host, then runs every test on each.
#   bash tests/run.sh [pytest args]
#   bash tests/run.sh --print-python      (builds the first host's environment and prints its python; no tests)
#
# Hosts: COMFYUI_PATH, a list of ComfyUI checkouts separated by ':' (e.g. ~/ComfyUI:~/ComfyUI-0.20.1). Without it,
# the supported pinned hosts at their conventional places, each where present: $HOME/ComfyUI (v0.3.64) and
# $HOME/ComfyUI-0.20.1. Every host gets its own cached environment (built from that host's requirements) and its
# own full pytest run (tier 1 + tier 2); a summary line per host and one total line close the output. With no
# host at all, tier 1 runs alone and one loud line says tier 2 was skipped.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${UNLOCK_CACHE:-$HOME/.cache/unlock-restore}
PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"   # the local CPU build; pinned for every install or pip pulls CUDA wheels
ENV_RECIPE=2                # bump when the install steps below change
DEFAULT_HOSTS="$HOME/ComfyUI:$HOME/ComfyUI-0.20.1"

# pip's warnings about this machine's unreachable extra indexes drown the log; keep its real errors.
pip_quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
is_host() { [ -f "$1/main.py" ] && [ -d "$1/comfy" ]; }

hosts=()
if [ -n "${COMFYUI_PATH:-}" ]; then
  IFS=':' read -r -a listed <<< "$COMFYUI_PATH"
  for h in "${listed[@]}"; do
    [ -z "$h" ] && continue
    if is_host "$h"; then hosts+=("$(cd "$h" && pwd)")
    else echo "[tests/run.sh] !!! COMFYUI_PATH names '$h', which is not a ComfyUI checkout (no main.py + comfy/): skipped !!!"; fi
  done
else
  IFS=':' read -r -a listed <<< "$DEFAULT_HOSTS"
  for h in "${listed[@]}"; do is_host "$h" && hosts+=("$(cd "$h" && pwd)"); done
fi

# build_env HOST|"" -> prints the venv's python. Cached outside the repository, keyed by everything that decides
# its contents (so each host's requirements get their own environment).
build_env() {
  local host=$1 key venv
  key=$({ "$PYTHON" --version; cat "$ROOT/tests/requirements.txt" "$ROOT/tests/torchvision_cpu_shim.py" \
            "$ROOT/tests/torchaudio_stub.py"; [ -n "$host" ] && cat "$host/requirements.txt";
          echo "$TORCH_PIN $ENV_RECIPE"; } | sha256sum | cut -c1-16)
  venv="$CACHE/venv-$key"
  if [ ! -f "$venv/.ready" ]; then
    echo "[tests/run.sh] building test environment in $venv${host:+ for $host}" >&2
    rm -rf "$venv"; mkdir -p "$CACHE"
    "$PYTHON" -m venv "$venv" >&2 || return 1
    local pip=(pip_quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check)
    local cons="$venv/constraints.txt"; echo "$TORCH_PIN" > "$cons"
    "${pip[@]}" "$TORCH_PIN" >&2
    "${pip[@]}" -c "$cons" -r "$ROOT/tests/requirements.txt" >&2
    if [ -n "$host" ]; then
      # The host's own requirements, minus the torch family (torchvision pinned to torch; torchaudio has no build
      # for torch 2.13, so a test-only stub stands in: hosts >= 0.8 import it when comfy.sd is imported).
      grep -v -E '^\s*(torch|torchvision|torchaudio)\s*$' "$host/requirements.txt" > "$venv/host-requirements.txt"
      "${pip[@]}" -c "$cons" -r "$venv/host-requirements.txt" requests "torchvision==0.28.0" >&2
      local site
      site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      cp "$ROOT/tests/torchvision_cpu_shim.py" "$site/unlock_torchvision_cpu_shim.py"
      echo "import unlock_torchvision_cpu_shim" > "$site/unlock-torchvision-cpu-shim.pth"
      mkdir -p "$site/torchaudio"; cp "$ROOT/tests/torchaudio_stub.py" "$site/torchaudio/__init__.py"
    fi
    "$venv/bin/python" -c "import torch, safetensors, numpy, PIL" >&2 || { echo "[tests/run.sh] environment $venv is broken" >&2; return 1; }
    touch "$venv/.ready"
  fi
  echo "$venv/bin/python"
}

if [ "${1:-}" = "--print-python" ]; then  # for tools/demo.sh and benchmarks: the environment, without the tests
  build_env "${hosts[0]:-}" || exit 1
  exit 0
fi

export UNLOCK_CACHE="$CACHE"
cd "$ROOT"
# The browser workflow tests drive the real frontend in Debian chromium through playwright-core (pinned in
# tools/frontend.py, installed once into the cache, never into the repo). If this fails, those tests fail and say
# how to fix it; everything else still runs.
setup_browser() {
  local py=$1 modules
  if modules=$("$py" "$ROOT/tools/frontend.py" install --cache "$CACHE"); then export UNLOCK_NODE_MODULES="$modules"
  else echo "[tests/run.sh] !!! could not install playwright-core: the browser workflow tests will fail !!!"; fi
}

summary=(); status=0; tp=0; tf=0; ts=0
run_one() {  # run_one HOST|"" LABEL [pytest args]
  local host=$1 label=$2; shift 2
  local py log start rc line
  py=$(build_env "$host") || { summary+=("$label: environment build FAILED"); status=1; return; }
  log=$(mktemp "${TMPDIR:-/tmp}/unlock-tests-XXXXXX.log")
  start=$(date +%s)
  if [ -n "$host" ]; then
    echo "[tests/run.sh] tier 2: using ComfyUI host at $host ($label)"
    setup_browser "$py"
    COMFYUI_PATH="$host" "$py" -m pytest tests "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  else
    echo "[tests/run.sh] !!! TIER 2 SKIPPED: no ComfyUI checkout found (COMFYUI_PATH='${COMFYUI_PATH:-}', defaults: $DEFAULT_HOSTS). Set COMFYUI_PATH=/path/to/ComfyUI[:/another/ComfyUI] to run the host tests. !!!"
    COMFYUI_PATH="${COMFYUI_PATH:-$HOME/ComfyUI}" "$py" -m pytest tests "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  fi
  # pytest's exit 5 (nothing collected, e.g. a -k that matches no test on this host) is not a failure of the host.
  [ "$rc" = 5 ] && rc=0
  [ "$rc" != 0 ] && status=1
  line=$("$py" - "$log" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
# pytest's closing line: "=== 3 passed, 1 skipped in 2.0s ===", or without the rules under -q.
last = [l for l in text.splitlines() if re.match(r"^(=+ )?[0-9].* in [0-9.]+s", l)]
counts = {k: 0 for k in ("passed", "failed", "errors", "skipped")}
for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last[-1] if last else ""):
    counts["errors" if word.startswith("error") else word] += int(n)
print(counts["passed"], counts["failed"] + counts["errors"], counts["skipped"])
EOF
)
  read -r p f s <<< "$line"
  tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
  local version="no host"
  [ -n "$host" ] && version="ComfyUI $("$py" -c "import re,sys; print(re.search(r'__version__ = \"(.*)\"', open(sys.argv[1]).read()).group(1))" "$host/comfyui_version.py" 2>/dev/null || echo '?')"
  summary+=("$label ($version): $p passed, $f failed, $s skipped, exit $rc, $(( ($(date +%s) - start + 30) / 60 )) min")
  rm -f "$log"
}

if [ ${#hosts[@]} = 0 ]; then
  run_one "" "tier 1 only" "$@"
else
  for h in "${hosts[@]}"; do run_one "$h" "$h" "$@"; done
fi
echo
echo "[tests/run.sh] summary, one line per host:"
for l in "${summary[@]}"; do echo "  $l"; done
echo "total: $tp passed, $tf failed, $ts skipped"
exit $status
