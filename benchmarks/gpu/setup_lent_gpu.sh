#!/usr/bin/env bash
# On a lent NVIDIA machine with no internet: join the carried payload parts (wheels and the
# llama-cpp-python sdist, split to fit the 64 MiB per-call limit), check the checksum, install the
# wheels under /tmp/site and build llama-cpp-python with CUDA in the background (log: /tmp/build.log).
set -euo pipefail
cat /tmp/parts/gpupart.* > /tmp/payload.tar
echo "$(cat /tmp/parts/gpu_payload.sha)  /tmp/payload.tar" | sha256sum -c -
mkdir -p /tmp/payload && tar xf /tmp/payload.tar -C /tmp/payload
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/payload/.whl/*.whl
export PYTHONPATH=/tmp/site
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90" CMAKE_BUILD_PARALLEL_LEVEL=16
setsid nohup python3 -m pip install -v --no-index --no-deps --no-build-isolation --target /tmp/site \
  /tmp/payload/.whl2/llama_cpp_python-0.3.36.tar.gz > /tmp/build.log 2>&1 < /dev/null &
echo "build started"
