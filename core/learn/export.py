"""Export a trained model to ONNX, and check the export by running it.

The exported graph reads a batch of any size (its first axis is named ``batch``) and
carries, in the ONNX file's ``metadata_props``, what another program needs to use it: the
class names in output order, the head, the input shape and the preprocessing (sample rate,
n_fft, hop, mels, representation, normalisation). onnxruntime reads them back::

    session = onnxruntime.InferenceSession(data)
    meta = session.get_modelmeta().custom_metadata_map  # {"class_names": '["yes", "no"]', ...}

The check runs the exported graph in onnxruntime on random batches of one and of several
examples and compares it with PyTorch's output on the same inputs.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError

CHECK_BATCHES = (1, 3)  # batch sizes the export is checked on (it was traced on 2)


@dataclass(frozen=True)
class OnnxExport:
    data: bytes  # the .onnx file
    max_abs_diff: float  # onnxruntime against PyTorch on the same random inputs
    checked_with: str
    metadata: dict[str, str] | None = None  # what the file's metadata_props hold


def normalisation(preprocess) -> str:
    """In words, how an input is scaled before the network reads it."""
    if preprocess.representation == "log-mel":
        return (
            "per example: the log-mel in dB (power, ref 1.0, amin 1e-10, floor top_db below "
            "the example's peak) minus its own mean, divided by its own standard deviation + 1e-6"
        )
    if preprocess.representation == "waveform":
        return "none: mono samples in [-1, 1] at sample_rate, window_samples long"
    return (
        "grey levels in [0, 1], resized to the input's height and width less the border, "
        "then a zero border of pad pixels"
    )


def metadata_for(input_shape, *, class_names=None, preprocess=None, head: str | None = None) -> dict[str, str]:  # fmt: skip
    """The strings an exported model carries in its metadata_props (JSON for lists and numbers).

    Keys: ``input_shape`` (one example, no batch axis), ``batch_axis``, ``output``,
    ``class_names``, ``head``, ``representation``, ``sample_rate``, ``window_samples``,
    ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``, ``fmin``, ``fmax``, ``top_db``
    (log-mel), ``image_shape`` and ``pad`` (pictures), ``normalisation`` (a sentence) and
    ``preprocess`` (core.learn.classify.Preprocess as JSON, to rebuild it exactly).
    """
    meta = {
        "input_shape": json.dumps([int(v) for v in input_shape]),
        "batch_axis": "0 (any size)",
        "output": "logits, one per output unit; softmax (or sigmoid) gives probabilities",
    }
    if class_names is not None:
        meta["class_names"] = json.dumps([str(c) for c in class_names])
    if head is not None:
        meta["head"] = str(head)
    if preprocess is not None:
        meta["representation"] = preprocess.representation
        meta["normalisation"] = normalisation(preprocess)
        meta["preprocess"] = json.dumps(preprocess.to_dict())
        if preprocess.representation == "image":
            meta["image_shape"] = json.dumps(list(preprocess.image_shape or ()))
            meta["pad"] = json.dumps(int(preprocess.pad))
        else:
            meta["sample_rate"] = json.dumps(int(preprocess.sample_rate))
            meta["window_samples"] = json.dumps(int(preprocess.length))
        if preprocess.representation == "log-mel":
            from core.audio.features import FeatureSettings

            settings = FeatureSettings(**(preprocess.settings or {}))
            for key in ("n_fft", "hop_length", "win_length", "n_mels", "fmin", "fmax", "top_db"):
                meta[key] = json.dumps(getattr(settings, key))
    return meta


def read_metadata(data: bytes) -> dict[str, str]:
    """The metadata_props of an ONNX file, as a dict of strings."""
    import onnx

    return {p.key: p.value for p in onnx.load_from_string(data).metadata_props}


def to_onnx(model, input_shape: tuple[int, ...], *, class_names=None, preprocess=None,
            head: str | None = None, seed: int = 0) -> OnnxExport:  # fmt: skip
    """Export ``model`` (reading examples of ``input_shape``, any number at a time) and check it.

    ``class_names``, ``preprocess`` (core.learn.classify.Preprocess) and ``head`` go into the
    file's metadata (:func:`metadata_for`).
    """
    import torch

    meta = metadata_for(input_shape, class_names=class_names, preprocess=preprocess, head=head)
    model = model.eval().cpu()
    gen = torch.Generator().manual_seed(seed)
    traced = torch.randn(2, *input_shape, generator=gen)  # (2, ...): a batch of 1 would be fixed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            program = torch.onnx.export(model, (traced,), dynamo=True, input_names=["input"],
                                        output_names=["logits"], verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))  # fmt: skip
            program.save(path)
            data = _with_metadata(path, meta)
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds of errors
        raise UserInputError(
            f"This model could not be exported to ONNX ({type(err).__name__}: {err})."
        ) from None
    inputs = [torch.randn(n, *input_shape, generator=gen) for n in CHECK_BATCHES]
    with torch.no_grad():
        refs = [model(x).numpy() for x in inputs]
    try:
        import onnxruntime as ort
    except ImportError:
        import onnx

        onnx.checker.check_model(onnx.load_from_string(data))
        return OnnxExport(data, float("nan"), "onnx.checker (onnxruntime is not installed)", meta)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    diff = max(
        float(np.abs(session.run(None, {name: x.numpy()})[0] - ref).max())
        for x, ref in zip(inputs, refs, strict=True)
    )
    return OnnxExport(data, diff, f"onnxruntime {ort.__version__}", meta)


def _with_metadata(path: str, meta: dict[str, str]) -> bytes:
    """The ONNX file at ``path`` with ``meta`` added to its metadata_props, as bytes."""
    import onnx

    proto = onnx.load(path)
    props = {p.key: p.value for p in proto.metadata_props}  # the exporter's own, if any
    onnx.helper.set_model_props(proto, {**props, **meta})
    proto.doc_string = (
        "A CNN exported from the CNN explainer and playground. Its metadata holds the class "
        "names, the input shape and the preprocessing; the first input axis is the batch."
    )
    return proto.SerializeToString()
