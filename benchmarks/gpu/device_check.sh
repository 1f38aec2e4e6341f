#!/usr/bin/env bash
# The CUDA cases on a lent NVIDIA machine, from what build_payload.sh prepared on the CPU machine.
#
# Device time passes only while the machine is held (15 minutes per issue, all calls together), one call
# carries at most 64 MiB, and an idle machine goes back after ~30 s, with everything it received. So:
#   1. build in the checkout the device tool sends (its session's own, not a clone): build_payload.sh;
#   2. with .gpu/parts holding N parts (manifest.json lists them), send parts 00 .. N-2 back to back, one
#      `receive` call each, and the last with `run`; carry manifest.json in every call. With the device tool:
#        run(command="bash benchmarks/gpu/device_check.sh receive",
#            carry=[".gpu/parts/manifest.json", ".gpu/parts/part-00"])         # part-01, ... part-05 likewise
#        run(command="bash benchmarks/gpu/device_check.sh run", timeout_s=600,
#            carry=[".gpu/parts/manifest.json", ".gpu/parts/part-06"])
#      then give_back. Each reply says "holding K of N parts; next: part-KK". A reply with warm: false after
#      the first call means a fresh machine: the parts sent before are gone, start again from part-00.
#   3. Budget: a start (1-2 min) + 6 transfers of ~60 MiB + `run` (at most 8 min: stage limits below) is
#      about 11-12 of the 15 minutes; a failed `run` can be repeated at once only if it failed early.
#
# `run` joins and verifies the parts (SHA-256 per part and whole), unpacks into /tmp/gpu with Python's own
# lzma/tarfile, then, each stage under a wall limit (unpack 90 s, probe 60 s, suites 240 s, fidelity 75 s):
#   probe.txt        nvidia-smi, the imports, and a real ONNX Runtime session on the CUDA provider and
#                    llama.cpp's GPU offload (what each runtime gets, not what it lists);
#   results.json, report.html, junit.xml   the llama.cpp, ONNX Runtime GenAI and ONNX Runtime suites on
#                    SmolLM2-135M with --device=cuda (stopped at its limit, the harness still writes them);
#   fidelity.md/.json  llama.cpp's CUDA rows (F32, Q4_0) against llama-bench -ngl 99 -sm none of the same
#                    build on the same files;
#   log.txt          every stage's output, time and exit status.
# At most 7 files under $OUT (the device tool brings back 8).
#
# Rehearsal on a CPU host: REHEARSE=1 bash benchmarks/gpu/device_check.sh run (device cpu, parts copied,
# not moved, out of .gpu/parts). PYTHON picks the interpreter (default: the device's /opt/torch/.venv,
# else python3); GPU_HOLD (/tmp/gpu-parts), GPU_ROOT (/tmp/gpu) and OUT (/tmp/gpu-out) the folders.
set -uo pipefail
cd "$(dirname "$0")/../.."
HOLD=${GPU_HOLD:-/tmp/gpu-parts}
ROOT=${GPU_ROOT:-/tmp/gpu}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$HOLD" "$OUT"
LOG=$OUT/log.txt
if [ -x /opt/torch/.venv/bin/python ]; then PY=${PYTHON:-/opt/torch/.venv/bin/python}; else PY=${PYTHON:-python3}; fi

receive() { # move what this call carried out of the working tree, which the next call replaces
    local f
    for f in .gpu/parts/*; do
        [ -f "$f" ] || continue
        if [ "${REHEARSE:-0}" = 1 ]; then cp -f "$f" "$HOLD/"; else mv -f "$f" "$HOLD/"; fi
    done
    "$PY" benchmarks/gpu/payload.py held "$HOLD"
}

stage() { # stage NAME SECONDS COMMAND...: run with a wall limit, log its time; returns the command's status
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    echo "== $name (limit ${limit} s)" | tee -a "$LOG"
    timeout --kill-after=5 "$limit" "$@" >> "$LOG" 2>&1
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s$([ $rc -ge 124 ] && echo ' (stopped: over its limit)')" \
        | tee -a "$LOG"
    return $rc
}

probe() {
    nvidia-smi 2>&1 || echo "nvidia-smi: not here"
    "$PY" - "$1" <<'EOF'
import importlib, platform, sys, tempfile
print("python", platform.python_version())
for name in ["benchharness.plugin", "llama_cpp", "onnxruntime", "onnxruntime_genai", "torch", "transformers",
             "optimum.exporters.onnx", "pynvml", "scipy", "pandas", "matplotlib", "sqlalchemy", "gguf"]:
    try:
        module = importlib.import_module(name)
        print("ok     ", name, getattr(module, "__version__", ""))
    except Exception as error:  # a probe: every missing piece is listed, none stops the others
        print("MISSING", name, type(error).__name__, error)
device = sys.argv[1]
try:  # a session on a one-node graph: the providers it really got (a listed provider can still fail to load)
    import onnx, onnxruntime
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tempfile.mktemp(suffix=".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    print("onnxruntime session providers:", onnxruntime.InferenceSession(path, providers=wanted).get_providers())
except Exception as error:
    print("onnxruntime probe failed:", type(error).__name__, error)
try:
    import llama_cpp
    print("llama.cpp GPU offload:", llama_cpp.llama_supports_gpu_offload())
    import onnxruntime_genai as og
    print("onnxruntime-genai CUDA:", og.is_cuda_available())
except Exception as error:
    print("runtime probe failed:", type(error).__name__, error)
EOF
}

run() {
    receive
    if ! stage unpack 90 "$PY" benchmarks/gpu/payload.py unpack "$HOLD" "$ROOT"; then
        grep '^payload:' "$LOG" | tail -1  # payload.py's one line: which part, and how to send it again
        return 1
    fi
    # The device venv's CUDA 13 libraries (cuDNN, cuBLAS, NVRTC, cuFFT, cuRAND) for onnxruntime-gpu's CUDA
    # provider; llama.cpp's shared libraries for llama-bench. PYTHONPATH: the payload, then this checkout
    # (the harness runs from source; -p benchharness.plugin because no entry point is installed).
    local nv device=cuda
    nv=$("$PY" -c "import glob, nvidia, os; print(':'.join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, '*', 'lib')))))" 2>/dev/null)
    export LD_LIBRARY_PATH="$ROOT/bin:$ROOT/site/llama_cpp/lib:${nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PYTHONPATH="$ROOT/site:$PWD" BENCHHARNESS_MACHINE=${BENCHHARNESS_MACHINE:-lent-gpu}
    export BENCHHARNESS_CACHE=${BENCHHARNESS_CACHE:-/tmp/gpu-cache} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
    [ "${REHEARSE:-0}" = 1 ] && device=cpu
    stage probe 60 bash benchmarks/gpu/device_check.sh probe "$device"  # timeout runs commands, not functions
    sed -n '/^== probe (/,/^== probe:/p' "$LOG" | sed '1d;$d' > "$OUT/probe.txt"
    rm -f reports/latest.json  # what comes back is this run's or nothing
    stage suites 240 "$PY" -m pytest -p benchharness.plugin -p no:cacheprovider -q -rA \
        suites/test_smollm2_llamacpp.py suites/test_smollm2_onnxruntime_genai.py suites/test_smollm2_onnxruntime.py \
        --device="$device" --time-budget=3m --junitxml="$OUT/junit.xml" --report="$OUT/report.html"
    [ -f reports/latest.json ] && cp reports/latest.json "$OUT/results.json"
    stage fidelity 75 "$PY" benchmarks/runtime_fidelity.py --llama-bench "$ROOT/bin/llama-bench" \
        --device "$device" --backends llamacpp --quants f32,q4_0 --trials 2 --reps 3 \
        --threads 4 --out "$OUT/fidelity.md"
    ls -la "$OUT" | tee -a "$LOG"
}

case "${1:-}" in
receive) receive ;;
run) run ;;
probe) probe "${2:-cuda}" ;;
*) echo "usage: $0 receive|run (see its header)" >&2; exit 2 ;;
esac
