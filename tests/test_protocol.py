"""The parent/child contract: typed both ways, strict on the way in."""

import json

import pytest

from benchharness.evaldata import DataFile, EvalData
from benchharness.meters.guards import GuardReading
from benchharness.protocol import (
    MeasureRequest,
    ModelSpec,
    PairedRequest,
    PairedTiming,
    ProtocolError,
    decode,
    encode,
    task_name,
)
from benchharness.settings import AccuracySettings, Workload

SPEC = ModelSpec("benchharness.backends.llamacpp:LlamaCppBackend", "llama_cpp", "cpu", "causal-lm", "/m.gguf", 1000)
DATA = EvalData(retrieval=DataFile("/eval/pairs.jsonl", 2048, "ab" * 32, 40, "pair"))
REQUEST = MeasureRequest(
    "c", "k", SPEC, 2, Workload(), AccuracySettings(), True, "/x.npy", "write", "/tokens.npy", DATA
)


def roundtrip(value):
    return decode(type(value), json.loads(json.dumps(encode(value))))


def test_requests_and_responses_roundtrip_through_json():
    assert roundtrip(REQUEST) == REQUEST
    paired = PairedRequest("c", SPEC, SPEC, 2, Workload(), AccuracySettings(), 6, "reference", None, EvalData())
    assert roundtrip(paired) == paired
    timing = PairedTiming(
        "c", "decode_tok_per_s", (1.0, 2.0), (1.5, 2.5), ("VR", "RV"), GuardReading(3000.0), GuardReading(), 0.5
    )
    assert roundtrip(timing) == timing
    assert task_name(REQUEST) == "measure" and task_name(paired) == "paired"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("threads"), r"missing keys \['threads'\]"),
        (lambda d: d.update(kind="causal-lm"), r"unknown keys \['kind'\]"),  # the old untyped dict's fallback key
        (lambda d: d.update(threads="2"), r"MeasureRequest.threads: '2' is not int"),
        (lambda d: d.update(reference_role="append"), r"reference_role: 'append' is not one of"),
        (lambda d: d["workload"].update(gen_tokens=True), r"workload.gen_tokens: True is not int"),
        (lambda d: d["model"].pop("kind"), r"MeasureRequest.model: unknown keys \[\] / missing keys \['kind'\]"),
    ],
)
def test_drifted_messages_are_refused_with_the_key(mutate, message):
    data = json.loads(json.dumps(encode(REQUEST)))
    mutate(data)
    with pytest.raises(ProtocolError, match=message):
        decode(MeasureRequest, data)
