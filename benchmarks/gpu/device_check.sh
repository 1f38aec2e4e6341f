#!/usr/bin/env bash
# The CUDA cases on a lent NVIDIA machine, from what build_payload.sh prepared on the CPU machine.
#
# Device time passes only while the machine is held (15 minutes per issue, all calls together) and one call
# carries at most 64 MiB, so: build here first (bash benchmarks/gpu/build_payload.sh), then send the parts
# back to back (the machine goes back after ~30 s idle, and with it what it received), then run. With the
# `run` tool of the device library, one call each:
#
#   run(command="bash benchmarks/gpu/device_check.sh receive",
#       carry=[".gpu/parts/manifest.json", ".gpu/parts/part-00"])        # ... part-01, part-02, ...
#   run(command="bash benchmarks/gpu/device_check.sh run", carry=[".gpu/parts/manifest.json", "<last part>"],
#       timeout_s=600)
#
# `run` receives the parts it was carried too, joins and verifies them (SHA-256 per part and whole), unpacks
# into /tmp/gpu (Python's own lzma/tarfile), then within 8 minutes of wall time (stage limits 90 + 300 + 90 s):
#   1. probe.txt     nvidia-smi, the imports and what each runtime sees (CUDA provider, GPU offload);
#   2. the llama.cpp, ONNX Runtime and ONNX Runtime GenAI suites on SmolLM2-135M with --device=cuda:
#      results.json, report.html, junit.xml (pytest's own output is in log.txt);
#   3. fidelity.md/.json  llama.cpp's CUDA rows (F32, Q4_0) against llama-bench -ngl 99 of the same build on
#      the same files.
# Everything it writes is under $OUT (the device tool brings it back). A stage that overruns its share is
# stopped with `timeout` and says so in log.txt; what it wrote still comes back.
# REHEARSE=1 runs the same steps on a CPU-only host (device cpu, no nvidia-smi): the install and the
# plumbing, not the GPU. PYTHON picks the interpreter (default: the device's /opt/torch/.venv, else python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
HOLD=${GPU_HOLD:-/tmp/gpu-parts}
ROOT=${GPU_ROOT:-/tmp/gpu}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$HOLD" "$OUT"
LOG=$OUT/log.txt

receive() { # move what this call carried out of the working tree, which the next call replaces
    for f in .gpu/parts/*; do [ -f "$f" ] && mv -f "$f" "$HOLD/"; done
    echo "holding: $(cd "$HOLD" && ls | tr '\n' ' ')"
}

stage() { # stage NAME SECONDS COMMAND...: run with a wall limit, log its time and exit status
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    echo "== $name (limit ${limit} s)" | tee -a "$LOG"
    timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s$([ $rc -ge 124 ] && echo ' (stopped: over its limit)')" \
        | tee -a "$LOG"
    return 0
}

run() {
    receive
    if [ -x /opt/torch/.venv/bin/python ]; then PY=${PYTHON:-/opt/torch/.venv/bin/python}; else PY=${PYTHON:-python3}; fi
    stage unpack 90 "$PY" benchmarks/gpu/payload.py unpack "$HOLD" "$ROOT" || return 1
    [ -d "$ROOT/site" ] || { echo "no payload unpacked under $ROOT: see $LOG" | tee -a "$LOG"; return 1; }
    # The device venv's CUDA 13 libraries (cuDNN, cuBLAS, NVRTC, cuFFT, cuRAND) for onnxruntime-gpu's CUDA
    # provider; llama.cpp's shared libraries for llama-bench. PYTHONPATH: the payload, then this checkout
    # (the harness runs from source; -p benchharness.plugin because no entry point is installed).
    local nv
    nv=$("$PY" -c "import glob, nvidia, os; print(':'.join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, '*', 'lib')) + glob.glob(os.path.join(p, 'cu13', 'lib')))))" 2>/dev/null)
    export LD_LIBRARY_PATH="$ROOT/bin:$ROOT/site/llama_cpp/lib:${nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PYTHONPATH="$ROOT/site:$PWD" BENCHHARNESS_MACHINE=${BENCHHARNESS_MACHINE:-lent-gpu}
    export BENCHHARNESS_CACHE=${BENCHHARNESS_CACHE:-/tmp/gpu-cache} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
    local device=cuda
    [ "${REHEARSE:-0}" = 1 ] && device=cpu
    {
        nvidia-smi 2>&1 || echo "nvidia-smi: not here"
        "$PY" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ["benchharness.plugin", "llama_cpp", "onnxruntime", "onnxruntime_genai", "torch", "transformers",
             "optimum.exporters.onnx", "pynvml", "scipy", "pandas", "matplotlib", "sqlalchemy", "gguf"]:
    try:
        module = importlib.import_module(name)
        print("ok     ", name, getattr(module, "__version__", ""))
    except Exception as error:  # a probe: every missing piece is listed, none stops the others
        print("MISSING", name, type(error).__name__, error)
try:
    import onnxruntime
    print("onnxruntime providers:", onnxruntime.get_available_providers())
    import llama_cpp
    print("llama.cpp GPU offload:", llama_cpp.llama_supports_gpu_offload())
except Exception as error:
    print("runtime probe failed:", error)
EOF
    } > "$OUT/probe.txt" 2>&1
    cat "$OUT/probe.txt" >> "$LOG"
    stage suites 300 "$PY" -m pytest -p benchharness.plugin -p no:cacheprovider -q -rA \
        suites/test_smollm2_llamacpp.py suites/test_smollm2_onnxruntime_genai.py suites/test_smollm2_onnxruntime.py \
        --device="$device" --time-budget=4m --junitxml="$OUT/junit.xml" --report="$OUT/report.html"
    [ -f reports/latest.json ] && cp reports/latest.json "$OUT/results.json"
    stage fidelity 90 "$PY" benchmarks/runtime_fidelity.py --llama-bench "$ROOT/bin/llama-bench" \
        --device "$device" --backends llamacpp --quants f32,q4_0 --trials 2 --reps 3 \
        --threads 4 --out "$OUT/fidelity.md"
    ls -la "$OUT" | tee -a "$LOG"
}

case "${1:-}" in
receive) receive ;;
run) run ;;
*) echo "usage: $0 receive|run (see its header)" >&2; exit 2 ;;
esac
