"""The parent's bottleneck flags: low MBU and a runtime running slower kernels than the CPU has."""

from child_facts import child_info

from benchharness.advice import advise
from benchharness.meters.utilisation import bottleneck_flags
from benchharness.readings import Measurement, Reading
from benchharness.run_flags import kernel_fallback, low_bandwidth_utilisation

PORTABLE = "SSE3 SSSE3 AVX AVX2 F16C FMA BMI2 LLAMAFILE OPENMP REPACK"
EPYC = ["avx", "avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx_vnni", "f16c", "fma"]


def row(mbu: float | None = None, **settings: str) -> Measurement:
    readings = {} if mbu is None else {"mbu": Reading("mbu", "fraction", mbu)}
    return Measurement("c", readings, child_info(runtime_settings=settings))


def test_low_mbu_flags_a_decode_row_far_under_the_machines_bandwidth():
    flag = low_bandwidth_utilisation(row(0.31))
    assert (
        flag is not None and flag.value == "MBU 0.31" and "31% of the machine's read bandwidth (< 50%)" in flag.figure
    )
    assert low_bandwidth_utilisation(row(0.93)) is None
    assert low_bandwidth_utilisation(row()) is None  # no MBU (no bandwidth, or not a decode row): no flag
    assert (
        low_bandwidth_utilisation(Measurement("c", {"mbu": Reading.unavailable("mbu", "fraction", "x")}, child_info()))
        is None
    )


def test_a_portable_llamacpp_build_on_an_avx512_cpu_is_a_kernel_fallback():
    flag = kernel_fallback(row(cpu_features=PORTABLE), "llamacpp", EPYC)
    assert flag is not None and flag.value == "build"
    assert "no AVX512, AVX512_VNNI, AVX512_BF16, AVX_VNNI kernels, which the CPU supports" in flag.figure
    native = PORTABLE + " AVX512 AVX512_VNNI AVX512_BF16 AVX_VNNI"
    assert kernel_fallback(row(cpu_features=native), "llamacpp", EPYC) is None
    assert kernel_fallback(row(cpu_features=PORTABLE), "llamacpp", ["avx", "avx2", "fma"]) is None  # an AVX2-only host
    assert kernel_fallback(row(cpu_features=PORTABLE), "onnxruntime", EPYC) is None


def test_safe_mode_after_a_sigill_is_a_kernel_fallback_on_any_backend():
    safe = row(extra_buffer_types="off (safe mode: use_extra_bufts = False)", cpu_features=PORTABLE + " AVX512")
    flag = kernel_fallback(safe, "llamacpp", ["avx512f"])
    assert flag is not None and flag.value == "safe mode" and "died of SIGILL" in flag.figure


def test_a_clock_that_fell_raises_throttled_and_every_new_flag_carries_advice():
    flags = bottleneck_flags(None, None, None, None, "CPU clock fell 30% during the region (3000 -> 2100 MHz)")
    assert [(f.name, f.value) for f in flags] == [("throttled", "throttled")]
    assert bottleneck_flags(None, None, None, None, None) == []
    for name in ("throttled", "low_bandwidth_utilisation", "kernel_fallback"):
        for backend in ("llamacpp", "onnxruntime", "openvino-genai"):
            advice = advise(name, backend)
            assert advice is not None and advice.causes and advice.actions, (name, backend)
    assert "GGML_NATIVE=ON" in advise("kernel_fallback", "llamacpp").actions  # type: ignore[union-attr]
