"""model.precision = "int8": the image tower exported to ONNX and quantised, run by ONNX Runtime.

Split from embedder.py (the torch path) because it is optional (needs the `onnx` extra) and only
used when configured. See bench/README.md for its speed and accuracy against fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Int8Unavailable(Exception):
    """The int8 session cannot be built here (a missing package, a failed export)."""


def int8_image_session(visual: Any, image_size: int) -> Any:
    """The image tower as an ONNX Runtime session with dynamically quantised int8 weights.

    Exported and quantised in a temporary folder at load (a few seconds); each run uses the calling
    thread only (one embed worker = one core, like the torch path), and runs may overlap.
    """
    import tempfile

    import torch

    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise Int8Unavailable(f"model.precision = 'int8' needs onnxruntime: {e}") from e
    with tempfile.TemporaryDirectory(prefix="reelfind-int8-") as tmp:
        f32, i8 = Path(tmp) / "visual.onnx", Path(tmp) / "visual-int8.onnx"
        try:
            x = torch.zeros(2, 3, image_size, image_size)
            # Traced with autograd on: under no_grad/inference_mode nn.MultiheadAttention takes its
            # fused fast path, which has no ONNX export.
            torch.onnx.export(visual, (x,), str(f32), input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
            quantize_dynamic(str(f32), str(i8), weight_type=QuantType.QInt8)
        except ImportError as e:
            raise Int8Unavailable(
                f"model.precision = 'int8' needs the onnx package to export the model ({e}): pip install onnx"
            ) from e
        except Exception as e:
            raise Int8Unavailable(f"model.precision = 'int8': cannot export the image tower to ONNX: {e}") from e
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(i8), so, providers=["CPUExecutionProvider"])
