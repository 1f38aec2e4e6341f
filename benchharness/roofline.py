"""Each decode row against the machine's physical limit: bytes per token, MBU, and a speedup's ceiling.

Decode is bound by memory traffic: tok/s <= read bandwidth / bytes read per token
(models/traffic.py counts them, meters/bandwidth.py measures the line). So a row's model
bandwidth utilisation, MBU = tok/s x bytes per token / bandwidth, says how close its runtime came
to what the hardware allows, and a speedup gate's ceiling is the ratio of bytes per token
(reference over variant): a 4-bit variant cannot decode faster than its bytes allow. Pure
functions: the session calls them with what it measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchharness.meters.bandwidth import Bandwidth
from benchharness.models.traffic import TokenTraffic, bytes_per_token
from benchharness.readings import Measurement, Reading, base_name

BYTES = "bytes_per_token"
READ_RATE = "decode_read_gb_per_s"
MBU = "mbu"


def mean_context(depth: int, prompt_tokens: int, gen_tokens: int) -> float:
    """Tokens in the KV cache, averaged over a round's decoded tokens (the i-th attends to depth + prompt + i + 1)."""
    return depth + prompt_tokens + (gen_tokens + 1) / 2


def decode_readings(
    measurement: Measurement,
    traffic: TokenTraffic | None,
    traffic_missing: str,
    bandwidth: Bandwidth | None,
    depths: Sequence[tuple[str, int]],
    prompt_tokens: int,
    gen_tokens: int,
) -> list[Reading]:
    """bytes_per_token, decode_read_gb_per_s and mbu for each depth (suffix, depth) of a decode row."""
    settings = measurement.info.runtime_settings or {}  # none recorded: the backend's defaults
    out: list[Reading] = []
    for suffix, depth in depths:
        names = (BYTES + suffix, READ_RATE + suffix, MBU + suffix)
        if traffic is None:
            out += _unavailable(names, traffic_missing)
            continue
        counted = bytes_per_token(traffic, settings, mean_context(depth, prompt_tokens, gen_tokens))
        if counted.value is None:
            out += _unavailable(names, counted.source)
            continue
        out.append(Reading(names[0], "B", counted.value, source=counted.source))
        decode = measurement.readings.get("decode_tok_per_s" + suffix)
        if decode is None or decode.value is None:
            out += _unavailable(names[1:], f"decode_tok_per_s{suffix} unavailable")
            continue
        rate = decode.value * counted.value
        out.append(Reading(names[1], "GB/s", rate / 1e9, source=f"decode tok/s x {BYTES}{suffix}"))
        if bandwidth is None or bandwidth.bytes_per_s is None:
            why = bandwidth.unavailable_reason if bandwidth is not None else "not measured"
            out.append(Reading.unavailable(names[2], "fraction", f"read bandwidth unavailable: {why}"))
            continue
        out.append(
            Reading(
                names[2],
                "fraction",
                rate / bandwidth.bytes_per_s,
                source=f"decode tok/s x {BYTES}{suffix} / {bandwidth.gb_per_s:.1f} GB/s ({bandwidth.source})",
            )
        )
    return out


def _unavailable(names: Sequence[str], why: str) -> list[Reading]:
    units = {BYTES: "B", READ_RATE: "GB/s", MBU: "fraction"}
    return [Reading.unavailable(n, units[base_name(n)], why) for n in names]


OVER_CEILING = 1.10  # a speedup this far past its bytes/token ceiling is called implausible (10%: the bytes' own slack)


def ceiling_note(speedup: float | None, variant: Measurement | None, reference: Measurement | None) -> str:
    """`ceiling 5.8x from bytes/token; 56% of it`, or `ceiling unavailable (why)`, for a speedup gate's message."""
    v = variant.readings.get(BYTES) if variant is not None else None
    r = reference.readings.get(BYTES) if reference is not None else None
    for side, reading in (("variant", v), ("reference", r)):
        if reading is None or reading.value is None:
            why = reading.unavailable_reason if reading is not None else "not counted"
            return f"ceiling unavailable ({side} bytes/token: {why})"
    assert v is not None and r is not None and v.value and r.value
    ceiling = r.value / v.value
    share = f"; {speedup / ceiling:.0%} of it" if speedup is not None else ""
    if speedup is not None and speedup > ceiling * OVER_CEILING:
        # Decode reads every weight once per token: fewer bytes can buy at most their ratio. Past it, the
        # reference ran below the bandwidth the variant reached (compute-bound kernels, or slowed beside other
        # work), so the speedup is not the weights' bytes alone and does not carry to a bandwidth-bound machine.
        share += (
            ": ABOVE the ceiling, implausible for a bandwidth-bound decode: the reference ran below the bandwidth "
            "the variant reached (compute-bound kernels or other work); compare their MBU"
        )
    return f"ceiling {ceiling:.2f}x from bytes/token{share}"


def with_ceiling(message: str, note: str) -> str:
    """The gate message with the note inside its parentheses: `(min 2.00x, 12 pairs; ceiling ...)`."""
    head, sep, tail = message.partition("): ")
    return f"{head}; {note}{sep}{tail}" if sep else f"{message} ({note})"
