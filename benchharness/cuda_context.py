"""This process's CUDA context, made on purpose before the model is loaded, so its own GPU memory can be read.

The CUDA runtime (cudart), which llama.cpp, ONNX Runtime and onnxruntime-genai all use, works in each device's
*primary context* and makes no second one. Retaining that context through the driver API (libcuda.so.1,
`cuDevicePrimaryCtxRetain`) before the runtime is asked for anything creates it at a moment when nothing else
is on the board for this process: what NVML shows for it then is the context's own memory, which the runtime
later shares. Source: CUDA Driver API reference, "Primary Context Management"; the context's size depends on
the board, driver and CUDA version (hundreds of MiB on an H100), which is why it is measured, not assumed.

Device ordinals: the child sets `CUDA_DEVICE_ORDER=PCI_BUS_ID` (isolation.py) so that CUDA's ordinal N is
NVML's board N, the board the meters read.
"""

from __future__ import annotations

import ctypes

_RETAINED: list[tuple[ctypes.CDLL, ctypes.c_void_p]] = []  # held for the process's life: the runtime shares it


def _error_name(cuda: ctypes.CDLL, status: int) -> str:
    """The driver's name for a CUresult (e.g. CUDA_ERROR_NO_DEVICE), or the number where it has none."""
    name = ctypes.c_char_p()
    if cuda.cuGetErrorName(status, ctypes.byref(name)) == 0 and name.value:
        return f"{name.value.decode()} ({status})"
    return f"CUresult {status}"


def retain_primary_context(ordinal: int, library: str = "libcuda.so.1") -> str | None:
    """Create (or join) CUDA device `ordinal`'s primary context for this process.

    Returns None once the context exists, else one line saying why it could not be made: no driver library
    (a machine without the NVIDIA driver, or a container started without the GPU), no such device, or the
    driver's error name. The context is kept until the process exits.
    """
    try:
        cuda = ctypes.CDLL(library)
    except OSError as e:
        return f"no CUDA driver: {library} could not be loaded ({e})"
    status = cuda.cuInit(0)
    if status:
        return f"the CUDA driver did not initialise: cuInit gave {_error_name(cuda, status)}"
    device = ctypes.c_int()
    status = cuda.cuDeviceGet(ctypes.byref(device), ordinal)
    if status:
        return f"no CUDA device {ordinal}: cuDeviceGet gave {_error_name(cuda, status)}"
    context = ctypes.c_void_p()
    status = cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device)
    if status:
        return f"the primary context of CUDA device {ordinal} was not made: {_error_name(cuda, status)}"
    _RETAINED.append((cuda, context))
    return None
