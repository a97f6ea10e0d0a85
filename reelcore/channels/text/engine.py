"""The OCR engine: RapidOCR (PP-OCRv4 detection + recognition, ONNX models inside the wheel).

One instance per process, loaded on first use and kept warm; calls are serialised by a lock
(ONNX Runtime sessions are thread-safe, but RapidOCR keeps per-call state on the object and each
call already uses the cores it is given). Detection runs on the frame scaled so its longer side
is at most `det_side` (cost grows with pixels; 960 keeps text 24 px tall at 1080p about 12 px
tall, which PP-OCRv4's detector still finds); recognition reads crops of the full-size frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

ENGINE = "rapidocr-ppocrv4"


@dataclass(frozen=True)
class OcrLine:
    """One line of text in a frame. `box`: (x0, y0, x1, y1) in pixels of the frame given."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


class OcrEngine:
    """Frame in (RGB uint8 HxWx3), lines out. Thread-safe; the model loads on the first call."""

    def __init__(self, det_side: int = 960, min_confidence: float = 0.5, threads: int = 0) -> None:
        self.det_side = det_side
        self.min_confidence = min_confidence
        self.threads = threads  # 0: ONNX Runtime's default (all cores)
        self._ocr = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return f"{ENGINE}-det{self.det_side}-c{self.min_confidence:g}"

    def _load(self):  # noqa: ANN202 - RapidOCR has no type hints
        if self._ocr is None:
            from rapidocr_onnxruntime import RapidOCR

            n = self.threads or -1
            self._ocr = RapidOCR(
                det_limit_type="max", det_limit_side_len=self.det_side, text_score=self.min_confidence,
                use_cls=False,  # titles, slates and signs are upright; the angle classifier costs a pass
                intra_op_num_threads=n, inter_op_num_threads=1 if n > 0 else -1,
            )
        return self._ocr

    def load(self) -> None:
        """Load the models now (else on the first read)."""
        with self._lock:
            self._load()

    def read(self, rgb: np.ndarray) -> list[OcrLine]:
        """The lines of text in one frame, top to bottom (detection, then recognition of each line).
        Lines of fewer than two letters or digits are dropped: on natural pictures they are mostly
        texture read as "X" or "8", and no one searches for them."""
        bgr = _bgr(rgb)
        with self._lock:
            ocr = self._load()
            boxes, _ = ocr.auto_text_det(bgr)
            if boxes is None or len(boxes) == 0:
                return []
            texts, _ = ocr.text_rec(ocr.get_crop_img_list(bgr, boxes))
        lines = []
        for pts, (text, score) in zip(boxes, texts, strict=True):
            text = " ".join(str(text).split())
            if sum(c.isalnum() for c in text) < 2 or float(score) < self.min_confidence:
                continue
            p = np.asarray(pts, dtype=np.float32)
            box = (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))
            lines.append(OcrLine(text, box, float(score)))
        return lines


def _bgr(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb[:, :, ::-1])  # RapidOCR takes arrays as OpenCV's BGR


_shared: dict[tuple[int, float, int], OcrEngine] = {}
_shared_lock = threading.Lock()


def shared_engine(det_side: int = 960, min_confidence: float = 0.5, threads: int = 0) -> OcrEngine:
    """One warm engine per setting for the whole process (models are ~15 MB and load in ~1 s)."""
    key = (det_side, min_confidence, threads)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = OcrEngine(det_side, min_confidence, threads)
        return _shared[key]
