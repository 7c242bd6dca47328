"""Crafted saved models are refused within a second, with memory kept under 100 MB.

Before the caps, a 471-byte bundle whose model.json asked for a huge layer made the server
try to allocate tens of GB; these bundles hold no weights at all, only a model.json.
"""

import io
import json
import time
import tracemalloc
import zipfile

import pytest

from core.errors import UserInputError
from core.learn.checkpoints import FORMAT, VERSION, load_bundle


def _bundle(spec=None, input_shape=(1, 28, 28), *, raw_json: str | None = None) -> bytes:
    meta = {"format": FORMAT, "version": VERSION, "spec": spec, "input_shape": list(input_shape),
            "class_names": ["a", "b"], "head": "softmax"}  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00{}")  # empty state
        zf.writestr("model.json", json.dumps(meta) if raw_json is None else raw_json)
    return buf.getvalue()


HUGE_DENSE = [{"type": "flatten"}, {"type": "dense", "units": 2_000_000_000}]
CASES = {
    "huge dense layer": (_bundle(HUGE_DENSE), "parameters and buffers"),
    "huge conv layer": (
        _bundle([{"type": "conv2d", "filters": 100_000, "kernel_size": 99}], (3, 224, 224)),
        "parameters and buffers",
    ),
    "huge activations": (
        _bundle([{"type": "conv2d", "filters": 60_000, "kernel_size": 1}], (1, 512, 512)),
        "activations would take",
    ),
    "NaN slope": (_bundle([{"type": "leakyrelu", "negative_slope": float("nan")}]), "finite"),
    "injected name": (_bundle([{"type": "relu", "name": "__import__('os').system('id')"}]), "name"),
    "injected mode": (
        _bundle([{"type": "conv2d", "filters": 2, "padding_mode": "zeros'); import os; ('"}]),
        "padding_mode must be one of zeros, reflect, replicate, circular",
    ),
    "injected type": (
        _bundle([{"type": "nn.Module); import os; (", "filters": 2}]),
        "unknown type",
    ),
    "200,000 layers": (_bundle([{"type": "relu"}] * 200_000, (4,)), "200,000 layers"),
    "5,000-digit number": (
        _bundle(raw_json='{"format": "' + FORMAT + '", "version": ' + "9" * 5000 + "}"),
        "not valid JSON",
    ),
    "deep nesting": (_bundle(raw_json="[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "huge input": (_bundle([{"type": "flatten"}], (10**9,)), "a size above 1,000,000"),
}


def test_the_huge_layer_bundle_is_tiny():
    assert len(CASES["huge dense layer"][0]) < 600


@pytest.mark.parametrize("case", list(CASES))
def test_crafted_bundle_is_refused_fast_with_little_memory(case):
    data, message = CASES[case]
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UserInputError, match=message):
            load_bundle(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # refused before anything is built: well under a second on an idle machine; the bound
    # only catches a refusal that builds first (minutes), not a busy machine
    assert elapsed < 10.0, f"{case}: {elapsed:.2f} s"
    assert peak < 100 * 2**20, f"{case}: {peak / 2**20:.0f} MB"
