"""Synthetic CLIP-like 512-d frame vectors for the 1M-vector query benchmark.

Not uniform noise: real frame embeddings are strongly structured. Each vector is a weighted sum of
nearly orthogonal random directions, so cosine similarities land where CLIP ViT-B-32 puts them:

    shared image direction (all frames)        weight^2 0.35   -> random pair of frames  cos ~0.35
    topic (1,000 topics; each video has one)   weight^2 0.20   -> same topic             cos ~0.55
    video (each "video" = 600 frames, 10 min)  weight^2 0.15   -> same video             cos ~0.70
    shot (runs of 3-30 frames)                 weight^2 0.15   -> same shot              cos ~0.85
    per-frame noise                            weight^2 0.15

Queries imitate text embeddings: a separate shared "text" direction (the modality gap), plus the
topic, video and shot directions of one shot, so the true neighbours are that shot's frames (then
the rest of its video) with cosine ~0.3, like real text->image scores.

Everything is derived from fixed seeds, so the vectors (and the ground truth) are reproducible and
can be regenerated chunk by chunk.
"""

from __future__ import annotations

import numpy as np

DIM = 512
FRAMES_PER_VIDEO = 600
N_TOPICS = 1000
_W = {"mean": 0.35, "topic": 0.20, "video": 0.15, "shot": 0.15, "noise": 0.15}


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class SyntheticFrames:
    def __init__(self, n: int, seed: int = 1234) -> None:
        self.n = n
        self.seed = seed
        base = np.random.default_rng(seed)
        self.mean = _unit(base, 1)[0]
        self.text_mean = _unit(base, 1)[0]
        self.topics = _unit(base, N_TOPICS)
        self.n_videos = (n + FRAMES_PER_VIDEO - 1) // FRAMES_PER_VIDEO
        self.video_topic = base.integers(0, N_TOPICS, self.n_videos)

    def _video_rng(self, v: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7, v])

    def _parts(self, v: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(video direction, shot index per frame, shot directions, per-frame noise) of video v."""
        rng = self._video_rng(v)
        vdir = _unit(rng, 1)[0]
        shots = np.empty(FRAMES_PER_VIDEO, dtype=np.int32)
        i = s = 0
        while i < FRAMES_PER_VIDEO:
            run = int(rng.integers(3, 31))
            shots[i : i + run] = s
            i += run
            s += 1
        shot_dirs = _unit(rng, s)
        noise = _unit(rng, FRAMES_PER_VIDEO)
        return vdir, shots, shot_dirs, noise

    def video(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (600, 512) float32, shot index per frame)."""
        vdir, shots, shot_dirs, noise = self._parts(v)
        x = (
            np.sqrt(_W["mean"]) * self.mean
            + np.sqrt(_W["topic"]) * self.topics[self.video_topic[v]]
            + np.sqrt(_W["video"]) * vdir
            + np.sqrt(_W["shot"]) * shot_dirs[shots]
            + np.sqrt(_W["noise"]) * noise
        ).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x, shots

    def chunk(self, start: int, stop: int) -> tuple[np.ndarray, list[dict]]:
        """Vectors and metadata for global indices [start, stop)."""
        vecs, metas = [], []
        i = start
        while i < stop:
            v, f0 = divmod(i, FRAMES_PER_VIDEO)
            f1 = min(FRAMES_PER_VIDEO, f0 + (stop - i))
            x, shots = self.video(v)
            vecs.append(x[f0:f1])
            for f in range(f0, f1):
                metas.append({"video_id": f"syn{v:05d}", "path": f"/synthetic/syn{v:05d}.mp4",
                              "t_start": float(f), "t_end": float(f + 1), "shot": int(shots[f])})
            i += f1 - f0
        return np.concatenate(vecs), metas

    @staticmethod
    def ids(start: int, stop: int) -> list[str]:
        return [f"syn{i // FRAMES_PER_VIDEO:05d}:{(i % FRAMES_PER_VIDEO) * 1000}" for i in range(start, stop)]

    def queries(self, n: int, seed: int = 99) -> np.ndarray:
        """Text-like queries, each describing one shot of one video (its topic, video and shot)."""
        rng = np.random.default_rng([self.seed, seed])
        out = np.empty((n, DIM), dtype=np.float32)
        for k in range(n):
            v = int(rng.integers(0, self.n_videos))
            vdir, shots, shot_dirs, _ = self._parts(v)
            sdir = shot_dirs[int(rng.integers(0, len(shot_dirs)))]
            q = (np.sqrt(0.50) * self.text_mean + np.sqrt(0.15) * self.topics[self.video_topic[v]]
                 + np.sqrt(0.10) * vdir + np.sqrt(0.10) * sdir + np.sqrt(0.15) * _unit(rng, 1)[0])
            out[k] = q / np.linalg.norm(q)
        return out
