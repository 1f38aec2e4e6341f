#!/usr/bin/env bash
# Build llama.cpp's own llama-bench and llama-perplexity from the exact llama.cpp that the installed llama-cpp-python
# vendors, so the fidelity and KL-divergence comparisons run the same kernels. Prints llama-bench's
# path; llama-perplexity lies beside it.
set -euo pipefail
version=$(python3 -c "import llama_cpp; print(llama_cpp.__version__)")
work=${1:-/tmp/llama-bench-build}
mkdir -p "$work"
python3 -m pip download --quiet --no-deps --no-binary=:all: "llama-cpp-python==$version" -d "$work" >&2
tar -xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$work/build" -j"$(nproc)" --target llama-bench llama-perplexity >&2
echo "$work/build/bin/llama-bench"
