#!/usr/bin/env bash
# One-shot device check: a machine with one NVIDIA GPU, CuPy and PyTorch, and no network.
#
#   bash benchmarks/gpu_check.sh              # from a fresh checkout, about 5-8 minutes
#   GG_CHECK_EMULATE=1 bash benchmarks/gpu_check.sh   # dry run on a CPU machine, under the
#                                              # test suite's CPU emulation of CuPy (checks
#                                              # this script's logic; no GPU figures)
#
# Steps, each under its own time limit (all together under 8 minutes), logs in $GG_CHECK_LOGS:
#   install     graphgrad from this checkout, offline (pip --no-index --no-deps -e .; the
#               graphviz package from benchmarks/wheels/ if missing; without pip, a
#               site folder mapping the checkout, with graphgrad's entry points)
#   gpu-tests   the tests marked gpu (the [cupy-gpu] kernels, fused kernels, regressions,
#               every example vs numpy, training)
#   bench       benchmarks/gpu_bench.py: wide MLP, fused elementwise (+ bandwidth), CNN and
#               transformer where present, against PyTorch CUDA eager
#   conformance graphgrad conformance cupy
#   nvcc-tests  the code generator's nvcc tests
# and ends with one compact summary (one line per step, then the benchmark's SUMMARY lines).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
LOGS=${GG_CHECK_LOGS:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$LOGS"
START=$(date +%s)
BUDGET=${GG_CHECK_BUDGET:-470}   # seconds for everything
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
SUMMARY=()

export ROOT PY GG_CHECK_EMULATE=${GG_CHECK_EMULATE:-}
if [ -n "$GG_CHECK_EMULATE" ]; then
  export PYTHONPATH="$ROOT/tests/cupy_emulation/site${PYTHONPATH:+:$PYTHONPATH}"
  MODE="CPU EMULATION of CuPy (dry run: no figure is GPU truth)"
else
  MODE="GPU"
fi

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# step NAME LIMIT FUNCTION: run FUNCTION (exported, in a child bash) with a time limit
# (cut to what is left), log it, record. LIMIT 0: in this shell, no limit (the install
# step, whose PYTHONPATH must reach the later steps).
step() {
  local name=$1 limit=$2 fn=$3
  local avail; avail=$(left)
  if [ "$avail" -lt 20 ]; then
    SUMMARY+=("$(printf '%-12s SKIPPED (time budget spent)' "$name")"); return 1
  fi
  [ "$limit" -gt "$avail" ] && limit=$avail
  local t0; t0=$(date +%s)
  if [ "$limit" -eq 0 ]; then
    "$fn" >"$LOGS/$name.log" 2>&1
  else
    timeout --kill-after=10 "$limit" bash -c "$fn" >"$LOGS/$name.log" 2>&1
  fi
  local rc=$?
  local took=$(( $(date +%s) - t0 ))
  local verdict="ok"
  [ $rc -ne 0 ] && verdict="FAILED (exit $rc)"
  [ $rc -eq 124 ] && verdict="TIMED OUT after ${limit}s"
  SUMMARY+=("$(printf '%-12s %-22s %4ss  %s' "$name" "$verdict" "$took" "$(last_line "$name")")")
  return $rc
}

# The line of a step's log worth showing: pytest's tally, the conformance verdict, or the end.
last_line() {
  local log="$LOGS/$1.log"
  grep -E '^[0-9]+ ops, [0-9]+ tests' "$log" | tail -1 && return
  grep -E '(passed|failed|error)' "$log" | grep -E ' in [0-9.]+s' | tail -1 | tr -d '=' \
    | sed 's/^ *//' && return
  tail -1 "$log" | cut -c1-120
}

install() {
  if "$PY" -c "import graphgrad, sys; sys.exit(not graphgrad.__file__.startswith('$ROOT'))" \
      2>/dev/null; then
    echo "graphgrad already installed from this checkout"
  elif ! "$PY" -m pip install --no-index --no-deps --no-build-isolation -q -e "$ROOT"; then
    echo "pip could not install graphgrad: mapping the checkout in a site folder instead"
    site_folder || return 1
  fi
  if ! "$PY" -c "import graphviz" 2>/dev/null; then
    "$PY" -m pip install --no-index --no-deps -q "$ROOT"/benchmarks/wheels/graphviz-*.whl \
      || return 1
  fi
  "$PY" -c "import graphgrad as gg; print('graphgrad', gg.__file__); \
print('backends:', [str(b) for b in gg.backends.info()])"
}

# graphgrad without pip: the folders as setup.cfg maps them, and its entry points.
site_folder() {
  local site; site=$(mktemp -d /tmp/gg_site.XXXXXX)
  mkdir -p "$site/graphgrad" "$site/graphgrad-0.1.0.dist-info"
  cp -rs "$ROOT/engine/." "$site/graphgrad/" && ln -s "$ROOT/backends" "$site/graphgrad/backends" \
    && ln -s "$ROOT/viz" "$site/graphgrad/viz" || return 1
  printf 'Metadata-Version: 2.1\nName: graphgrad\nVersion: 0.1.0\n' \
    >"$site/graphgrad-0.1.0.dist-info/METADATA"
  sed -n '/^\[options.entry_points\]/,/^\[/p' setup.cfg | "$PY" -c "
import sys, re
out, group = [], None
for line in sys.stdin.read().splitlines()[1:]:
    if re.match(r'^\S.*=\s*$', line): group = line.split('=')[0].strip(); out.append(f'[{group}]')
    elif line.strip() and group: out.append(line.strip())
print('\n'.join(out))" >"$site/graphgrad-0.1.0.dist-info/entry_points.txt"
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
}

environment() {
  echo "mode: $MODE"
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  "$PY" -c "
import sys, numpy
print('python', sys.version.split()[0], 'numpy', numpy.__version__)
try:
    import cupy
    print('cupy', cupy.__version__, getattr(cupy, '__graphgrad_emulation__', ''))
    print('devices', cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print('cupy unusable:', type(e).__name__, e)
try:
    import torch
    print('torch', torch.__version__, 'cuda', torch.cuda.is_available())
except Exception as e:
    print('torch unusable:', e)"
}

gpu_tests() {
  local select=(-m gpu)
  [ -n "$GG_CHECK_EMULATE" ] && select=(-m "not gpu" -k "cupy-emulated")
  "$PY" -m pytest -q -p no:cacheprovider --maxfail=20 -rfE "${select[@]}" \
    tests/backends/test_cupy_backend.py tests/backends/test_cupy_regressions.py \
    tests/backends/test_cupy_examples.py
}

# The code generator's output built by nvcc (its own tests; no gpu marker, nvcc needed).
nvcc_tests() {
  command -v nvcc >/dev/null || { echo "nvcc not installed: skipped"; return 0; }
  "$PY" -m pytest -q -p no:cacheprovider --maxfail=20 -rfE tests/backends/test_cupy_codegen_nvcc.py
}

conformance() { "$PY" -m graphgrad.cli conformance cupy -q; }

bench() {
  if [ -n "$GG_CHECK_EMULATE" ]; then
    "$PY" benchmarks/gpu_bench.py --smoke --backend cupy --steps 1 --rounds 1
  else
    "$PY" benchmarks/gpu_bench.py --steps 10 --rounds 3
  fi
}

export -f environment gpu_tests nvcc_tests conformance bench
# In the order of what matters most, should the time budget run out.
step environment 60 environment
step install 0 install
step gpu-tests 150 gpu_tests
step bench 150 bench
step conformance 120 conformance
step nvcc-tests 90 nvcc_tests

echo "== graphgrad device check: $MODE, $(( $(date +%s) - START ))s, logs in $LOGS"
printf '%s\n' "${SUMMARY[@]}"
grep -h '^cupy \|^NVIDIA\|^GPU ' "$LOGS/environment.log" 2>/dev/null | head -3
grep -h '^SUMMARY ' "$LOGS/bench.log" 2>/dev/null | sed 's/^SUMMARY /  /'
failed=$(printf '%s\n' "${SUMMARY[@]}" | grep -c 'FAILED\|TIMED OUT\|SKIPPED')
echo "== $([ "$failed" -eq 0 ] && echo 'all steps ok' || echo "$failed step(s) not ok")"
exit $(( failed > 0 ))
