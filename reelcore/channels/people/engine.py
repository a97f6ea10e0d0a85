"""dlib face engine: detector (HOG or MMOD CNN), 5-point landmarks, 128-d ResNet embedder.

Weights come from the `face_recognition_models` wheel (files inside the package). Only the
5-point landmark model is ever loaded: the 68-point model's training data (iBUG 300-W) forbids
commercial use. The package's `__init__` imports `pkg_resources`, so its folder is found with
`importlib.util.find_spec` without running it.

dlib objects are not thread-safe: one lock serialises every call on an engine. `shared_engine`
keeps one warm engine per (detector, upsample) for the life of the process.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CHIP_SIZE = 150  # the ResNet's input: an aligned 150x150 chip
CHIP_PADDING = 0.25  # dlib's default around the aligned face
EMBED_DIM = 128
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MMOD = "mmod_human_face_detector.dat"
_SHARP_SIDE = 64  # faces are resized to this before the Laplacian, so sharpness compares across sizes


class EngineError(Exception):
    """The face engine cannot start (dlib or its weights missing)."""


@dataclass(frozen=True)
class Face:
    """One face on one frame. Box and landmarks in the frame's pixels."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    landmarks: tuple[tuple[float, float], ...]  # 5 points: two per eye (corners), one under the nose
    score: float  # detector confidence (HOG: SVM margin; CNN: MMOD confidence)
    sharpness: float  # variance of the Laplacian of the face, resized to 64x64 grey
    frontal: float  # 1.0 nose centred between the eyes .. 0.0 profile

    @property
    def size(self) -> int:
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def quality(self) -> float:
        """Which faces of a track are worth embedding: large, sharp and frontal."""
        size = min(1.0, self.size / 100.0)
        sharp = self.sharpness / (self.sharpness + 100.0)
        return size * sharp * (0.2 + 0.8 * self.frontal)


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("face_recognition_models is not installed (pip install face_recognition_models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def frontalness(points: np.ndarray) -> float:
    """From 5 landmarks: how far the nose sits from the eyes' midpoint along the eye axis."""
    a, b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = b - a
    dist = float(np.hypot(*axis))
    if dist < 1e-6:
        return 0.0
    offset = float(np.dot(nose - (a + b) / 2, axis / dist)) / dist  # -0.5 .. 0.5 at a profile
    return float(np.clip(1.0 - 2.0 * abs(offset), 0.0, 1.0))


def sharpness(rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
    left, top, right, bottom = box
    crop = rgb[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)]
    if crop.size == 0:
        return 0.0
    g = np.asarray(Image.fromarray(crop).convert("L").resize((_SHARP_SIDE, _SHARP_SIDE), Image.BILINEAR),
                   dtype=np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


class FaceEngine:
    """RGB frames -> faces; faces -> 128-d vectors. Weights load on first use and stay loaded."""

    def __init__(self, detector: str = "hog", upsample: int = 1, model_dir: Path | None = None) -> None:
        if detector not in ("hog", "cnn"):
            raise EngineError(f"unknown face detector {detector!r}: use 'hog' or 'cnn'")
        self.detector_kind = detector
        self.upsample = upsample
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._dlib = None
        self._detector = None
        self._predictor = None
        self._embedder = None

    def _load(self) -> None:
        if self._embedder is not None:
            return
        try:
            import dlib
        except ImportError as e:
            raise EngineError(f"dlib is not installed (pip install dlib-bin): {e}") from e
        d = self.model_dir or models_dir()
        names = [LANDMARKS_5, RESNET] + ([MMOD] if self.detector_kind == "cnn" else [])
        missing = [n for n in names if not (d / n).is_file()]
        if missing:
            raise EngineError(f"face model file(s) missing in {d}: {missing}")
        self._detector = (dlib.cnn_face_detection_model_v1(str(d / MMOD)) if self.detector_kind == "cnn"
                          else dlib.get_frontal_face_detector())
        self._predictor = dlib.shape_predictor(str(d / LANDMARKS_5))
        self._embedder = dlib.face_recognition_model_v1(str(d / RESNET))
        self._dlib = dlib

    def warm(self) -> FaceEngine:
        with self._lock:
            self._load()
        return self

    def _detect_rects(self, rgb: np.ndarray) -> list[tuple[object, float]]:
        if self.detector_kind == "cnn":
            return [(d.rect, float(d.confidence)) for d in self._detector(rgb, self.upsample)]
        rects, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
        return list(zip(rects, (float(s) for s in scores), strict=True))

    def detect(self, rgb: np.ndarray, min_size: int = 0) -> list[Face]:
        """Faces on one RGB frame (H x W x 3 uint8), with landmarks and quality."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        h, w = rgb.shape[:2]
        out: list[Face] = []
        with self._lock:
            self._load()
            for rect, score in self._detect_rects(rgb):
                box = (max(rect.left(), 0), max(rect.top(), 0), min(rect.right(), w), min(rect.bottom(), h))
                if min(box[2] - box[0], box[3] - box[1]) < max(min_size, 1):
                    continue
                shape = self._predictor(rgb, rect)
                pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], np.float32)
                out.append(Face(box=box, landmarks=tuple((float(x), float(y)) for x, y in pts), score=score,
                                sharpness=sharpness(rgb, box), frontal=frontalness(pts)))
        return out

    def chip(self, rgb: np.ndarray, face: Face, size: int = CHIP_SIZE) -> np.ndarray:
        """The face aligned by its 5 landmarks (size x size RGB): the embedder's input and the crop."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        with self._lock:
            self._load()
            dlib = self._dlib
            rect = dlib.rectangle(*face.box)
            shape = dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in face.landmarks])
            return np.asarray(dlib.get_face_chip(rgb, shape, size=size, padding=CHIP_PADDING))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """150x150 aligned chips -> (n, 128) float32 descriptors (dlib's scale: same person < ~0.6)."""
        if not chips:
            return np.zeros((0, EMBED_DIM), np.float32)
        with self._lock:
            self._load()
            vecs = self._embedder.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.array([np.array(v) for v in vecs], dtype=np.float32)


_SHARED: dict[tuple[str, int], FaceEngine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(detector: str = "hog", upsample: int = 1) -> FaceEngine:
    """One engine per (detector, upsample) per process, loaded once and kept warm."""
    with _SHARED_LOCK:
        eng = _SHARED.get((detector, upsample))
        if eng is None:
            eng = _SHARED[(detector, upsample)] = FaceEngine(detector, upsample)
        return eng
