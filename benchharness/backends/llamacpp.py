"""llama.cpp through llama-cpp-python's low-level C API.

The high-level `Llama()` call loop runs a full sampler chain over the vocabulary and copies logits
into Python for every token, which costs about a quarter of decode speed on small models. Here a
decode step is what llama-bench does (one `llama_decode` of a one-token batch) plus an argmax over
the logits, so the harness's tok/s matches llama.cpp's own tool.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.errors import ModelError
from benchharness.gpus import split_device

GPU_DEVICES = ("cuda", "metal")


def _quiet_logs() -> None:
    """Pass only llama.cpp warnings and errors to stderr (the child's log), not its load chatter.

    llama-cpp-python already routes llama.cpp's log through a C callback into the Python logger
    `llama-cpp-python`; raising that logger's level is enough. (A second ctypes callback of our own
    crashed the process with SIGSEGV on a CUDA build, seen on an H100.)
    """
    logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)


def gpu_model_params(ll: Any, params: Any, device: str) -> Any:
    """`params` with every layer offloaded on a GPU device, onto the case's own board for `cuda:N`.

    llama.cpp's default splits the layers over every GPU it sees; a case measures one board.
    """
    kind, index = split_device(device)
    params.n_gpu_layers = 999 if kind in GPU_DEVICES else 0
    if kind == "cuda":
        params.split_mode = ll.LLAMA_SPLIT_MODE_NONE
        params.main_gpu = index
    return params


# llama.cpp's CPU threads (an OpenMP build) wait by libgomp's policy; OMP_WAIT_POLICY=passive would stop the
# spinning between runs but also put every barrier inside a token's graph to sleep, so it is left alone.
OPENMP_WAIT = "not changed: libgomp's default wait policy (passive would also slow the barriers inside each token)"


def cpu_features(ll: Any) -> str:
    """The CPU features this llama.cpp build compiled in and uses, from `llama_print_system_info()`.

    E.g. "SSE3 AVX AVX2 F16C FMA BMI2 LLAMAFILE OPENMP REPACK": what the row was measured with, which is
    the build's choice, not the CPU's flags (a portable build leaves AVX-512 and AMX out).
    """
    info = ll.llama_print_system_info().decode("utf-8", "replace")
    cpu = info.split("CPU :", 1)[-1]
    return " ".join(
        name.strip() for name, _, value in (p.partition("=") for p in cpu.split("|")) if value.strip() == "1"
    )


class LlamaCppModel:
    """A GGUF model and one context; sequence 0 holds the running generation."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        import llama_cpp as ll

        self._ll = ll
        _quiet_logs()
        ll.llama_backend_init()
        model_params = gpu_model_params(ll, ll.llama_model_default_params(), device)
        # Extra buffer types repack quantized weights for the CPU's best kernels (AMX, AVX-512 tiles);
        # on a VM that advertises AMX but traps it, that path dies of SIGILL (llama-bench's --repack 0).
        model_params.use_extra_bufts = not options.safe_mode
        self._safe_mode = options.safe_mode
        self._device = device
        self._model = ll.llama_model_load_from_file(str(path).encode(), model_params)
        if not self._model:
            raise ModelError(
                f"llama.cpp could not load {path} (not a valid GGUF for this llama.cpp build); "
                "re-run prepare or check the file"
            )
        ctx_params = ll.llama_context_default_params()
        ctx_params.n_ctx = options.n_ctx
        ctx_params.n_batch = options.n_batch
        ctx_params.n_ubatch = min(options.n_batch, 512)
        ctx_params.n_threads = options.threads
        ctx_params.n_threads_batch = options.threads
        ctx_params.no_perf = True
        self._ctx = ll.llama_init_from_model(self._model, ctx_params)
        if not self._ctx:
            ll.llama_model_free(self._model)
            raise ModelError(f"llama.cpp could not create a context for {path} (n_ctx={options.n_ctx})")
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = int(ll.llama_vocab_n_tokens(self._vocab))
        self._capacity = options.n_batch
        self._threads = options.threads
        self._batch = ll.llama_batch_init(options.n_batch, 0, 1)
        self._pos = 0

    @property
    def runtime_settings(self) -> dict[str, str]:
        return {
            "threads": str(self._threads),
            "n_batch": str(self._capacity),
            "gpu_layers": "all" if split_device(self._device)[0] in GPU_DEVICES else "none",
            "kv_cache": "llama.cpp default (f16)",
            "weights": "memory-mapped from the file (use_mmap, llama.cpp's default): file-backed resident pages",
            "prefill_logits": "last position only",
            "extra_buffer_types": "off (safe mode: use_extra_bufts = False)" if self._safe_mode else "on (default)",
            "cpu_features": cpu_features(self._ll),
            "spinning": OPENMP_WAIT,
        }

    def tokenize(self, text: str) -> list[int]:
        ll = self._ll
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (ll.llama_token * capacity)()
        n = ll.llama_tokenize(self._vocab, data, len(data), buffer, capacity, True, False)
        if n < 0:
            raise ModelError(f"tokenizer needed {-n} slots for {len(data)} bytes; report this as a bug")
        return list(buffer[:n])

    def _clear(self) -> None:
        self._ll.llama_memory_clear(self._ll.llama_get_memory(self._ctx), True)
        self._pos = 0

    def _decode(self, tokens: Sequence[int], output_from: int) -> None:
        """Feed tokens in batches; request logits for positions >= output_from within `tokens`."""
        batch = self._batch
        for start in range(0, len(tokens), self._capacity):
            chunk = tokens[start : start + self._capacity]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = self._pos + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = start + i >= output_from
            status = self._ll.llama_decode(self._ctx, batch)
            if status != 0:
                raise ModelError(f"llama_decode failed with status {status} at position {self._pos}")
            self._pos += len(chunk)

    def _argmax_last(self) -> int:
        logits = self._ll.llama_get_logits_ith(self._ctx, -1)
        return int(np.ctypeslib.as_array(logits, shape=(self.n_vocab,)).argmax())

    def prefill(self, tokens: Sequence[int]) -> int:
        self._clear()
        self._decode(tokens, output_from=len(tokens) - 1)
        return self._argmax_last()

    def fill(self, tokens: Sequence[int]) -> None:
        self._clear()
        self._decode(tokens, output_from=len(tokens))  # no logits: nothing is predicted from the context
        # On a GPU llama_decode may return with work still queued; the timed call after this must not
        # inherit it. (Timed calls end by reading logits, which waits for the queue.)
        self._ll.llama_synchronize(self._ctx)

    def extend(self, tokens: Sequence[int]) -> int:
        self._decode(tokens, output_from=len(tokens) - 1)
        return self._argmax_last()

    def decode(self, token: int) -> int:
        self._decode((token,), output_from=0)
        return self._argmax_last()

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        if len(tokens) > self._capacity:
            raise ValueError(f"score() takes at most n_batch={self._capacity} tokens, got {len(tokens)}")
        self._clear()
        last = len(tokens) - 1
        self._decode(tokens[:last], output_from=first)
        rows = last - first
        logits = self._ll.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(logits, shape=(rows, self.n_vocab)).copy()

    def close(self) -> None:
        ll = self._ll
        if self._ctx:
            ll.llama_batch_free(self._batch)
            ll.llama_free(self._ctx)
            ll.llama_model_free(self._model)
            self._ctx = None


class LlamaCppBackend(Backend):
    name: ClassVar[str] = "llamacpp"
    runtime_module: ClassVar[str] = "llama_cpp"
    extra: ClassVar[str] = "llamacpp"
    formats: ClassVar[tuple[str, ...]] = ("gguf",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda", "metal")
    safe_mode: ClassVar[str | None] = (
        "llama.cpp's extra buffer types (weight repacking, AMX) off: use_extra_bufts = False"
    )
    portable_install: ClassVar[str | None] = (
        'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36'
    )

    def device_support_reason(self, kind: str) -> str | None:
        if kind == "cpu":
            return None
        import llama_cpp

        if not llama_cpp.llama_supports_gpu_offload():
            flag = "-DGGML_CUDA=on" if kind == "cuda" else "-DGGML_METAL=on"
            return (
                f"this llama-cpp-python build has no GPU offload; rebuild it for {kind}: "
                f'CMAKE_ARGS="{flag}" pip install --force-reinstall --no-cache-dir llama-cpp-python'
            )
        return None

    def runtime_version(self) -> str:
        import llama_cpp

        return f"llama-cpp-python {llama_cpp.__version__}"

    def load(self, path: Path, device: str, options: LoadOptions) -> LlamaCppModel:
        return LlamaCppModel(path, device, options)
