"""People channel quality and cost with the real dlib weights, on the shared footage with faces.

    .venv/bin/python bench/people_quality.py [--fps 2] [--threshold 0.32] [--upsample 1] [--cnn]

Ground truth (established by looking at the sampled frames, contact sheets of every sample with
the detections drawn, by a person; see the notes next to each entry):
  * ASL clips: asl_book.mkv and asl_walk.mkv show the same signer (woman, mustard-yellow hoodie,
    lanyard); asl_eat_vfr.mp4 another (young man, black patterned jacket). One face per frame.
  * friday.mp4 (2 fps, 13 samples 0.0-6.0 s): two faces with both eyes visible: "tophat" (the woman
    in the top hat, upper right, face centre x 330-500, y 40-170 in 640x480) on all 13 samples,
    "operator" (the curly-haired woman at the switchboard, centre x 220-360, y 190-320) at 1.5, 2.5,
    3.0, 3.5 and 6.0 s (in profile at 2.0 and 4.0-5.5 s, turned away at 0.0-1.0 s: not counted).
    The foreground woman on the left shows only the back of her head.
  * one-by-one-person-detection_first60s.mp4: every person is seen from behind (ground_truth.tsv
    says so and the 30 samples at 0.5 fps agree): no face is visible, so every detection is false.
Grouping: purity (each found person holds one true person) and completeness (each true person is
one found person), over all tracks of the ASL clips and friday.mp4, grouped incrementally clip by
clip as the daemon would, then re-grouped; plus the threshold sweep that tuned the default.
Cost: the channel's time per file against a decode pass with the same sampling (no detection).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from reelcore.channels.people.analyse import analyse_file, sampling_for
from reelcore.channels.people.engine import FaceEngine
from reelcore.channels.people.grouping import People
from reelcore.channels.people.people_db import PeopleDB
from reelcore.channels.people.settings import PeopleSettings
from reelcore.media.decode import sample_frames

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"
if not FOOTAGE.is_dir():
    FOOTAGE = Path("/work/shared/footage")
ASL = {"asl_book.mkv": "signer_woman", "asl_walk.mkv": "signer_woman", "asl_eat_vfr.mp4": "signer_man"}
FRIDAY = "friday.mp4"
FRIDAY_GT = {  # label: (x range, y range of the face centre, sample times with both eyes visible)
    "tophat": ((330, 500), (40, 170), [k * 0.5 for k in range(13)]),
    "operator": ((220, 360), (190, 320), [1.5, 2.5, 3.0, 3.5, 6.0]),
}
NO_FACES = "one-by-one-person-detection_first60s.mp4"


def friday_label(box: tuple[int, int, int, int]) -> str | None:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for label, ((x0, x1), (y0, y1), _) in FRIDAY_GT.items():
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            return label
    return None


def detection_scores(eng: FaceEngine, s: PeopleSettings) -> dict[str, float]:
    hits = {k: 0 for k in FRIDAY_GT}
    false = 0
    s2 = s.model_copy(update={"sample_fps": 2.0})  # the ground truth is per 0.5 s sample
    for fr in sample_frames(str(FOOTAGE / FRIDAY), sampling_for(s2)):
        t = round(fr.t_frame * 2) / 2
        for f in eng.detect(np.asarray(fr.image), s.min_face):
            lab = friday_label(f.box)
            if lab is not None and any(abs(t - g) < 0.01 for g in FRIDAY_GT[lab][2]):
                hits[lab] += 1
            elif lab is None:
                false += 1
    total = sum(len(v[2]) for v in FRIDAY_GT.values())
    nf_samples = nf_false = 0
    s_nf = s.model_copy(update={"sample_fps": 0.5})
    for fr in sample_frames(str(FOOTAGE / NO_FACES), sampling_for(s_nf)):
        nf_samples += 1
        nf_false += len(eng.detect(np.asarray(fr.image), s.min_face))
    return {"friday_found": sum(hits.values()), "friday_faces": total, **{f"friday_{k}": v for k, v in hits.items()},
            "friday_false": false, "nofaces_samples": nf_samples, "nofaces_false": nf_false}


def purity_completeness(labels: list[str], groups: list[int]) -> tuple[float, float, float, float]:
    n = len(labels)
    pairs = list(combinations(range(n), 2))
    same_true = [(i, j) for i, j in pairs if labels[i] == labels[j]]
    same_found = [(i, j) for i, j in pairs if groups[i] == groups[j]]
    both = len(set(same_true) & set(same_found))
    purity = sum(max(sum(1 for k in range(n) if groups[k] == g and labels[k] == lab) for lab in set(labels))
                 for g in set(groups)) / n
    complete = sum(max(sum(1 for k in range(n) if labels[k] == lab and groups[k] == g) for g in set(groups))
                   for lab in set(labels)) / n
    p_prec = both / len(same_found) if same_found else 1.0
    p_rec = both / len(same_true) if same_true else 1.0
    return purity, complete, p_prec, p_rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--threshold", type=float, default=PeopleSettings().match_threshold)
    ap.add_argument("--upsample", type=int, default=PeopleSettings().upsample)
    ap.add_argument("--cnn", action="store_true", help="also time the CNN detector (slow on CPU)")
    a = ap.parse_args()
    s = PeopleSettings(sample_fps=a.fps, match_threshold=a.threshold, upsample=a.upsample)
    eng = FaceEngine(s.detector, s.upsample)
    t0 = time.perf_counter()
    eng.warm()
    print(f"engine load: {time.perf_counter() - t0:.2f} s (HOG + 5-point landmarks + ResNet)")

    # --- detector cost per frame
    frame = np.asarray(next(iter(sample_frames(str(FOOTAGE / "asl_book.mkv"), sampling_for(s)))).image)
    for det, up in [("hog", 0), ("hog", 1)] + ([("cnn", 0)] if a.cnn else []):
        e = FaceEngine(det, up).warm()
        e.detect(frame)
        n = 3 if det == "cnn" else 10
        t0 = time.perf_counter()
        for _ in range(n):
            found = e.detect(frame)
        print(f"detect {det} upsample={up}: {(time.perf_counter() - t0) / n * 1000:.0f} ms/frame "
              f"(640x480), {len(found)} face(s)")
    hd = np.asarray(next(iter(sample_frames(str(FOOTAGE / "butterfly.mov"), sampling_for(s)))).image)
    for up in (0, 1):
        e = FaceEngine("hog", up).warm()
        t0 = time.perf_counter()
        for _ in range(5):
            e.detect(hd)
        print(f"detect hog upsample={up}: {(time.perf_counter() - t0) / 5 * 1000:.0f} ms/frame "
              f"({hd.shape[1]}x{hd.shape[0]})")
    chip = eng.chip(frame, eng.detect(frame)[0])
    t0 = time.perf_counter()
    eng.embed_chips([chip] * 5)
    print(f"embed: {(time.perf_counter() - t0) / 5 * 1000:.0f} ms/face")

    # --- detection on the clips with people
    d = detection_scores(eng, s)
    print(f"detection friday.mp4: {d['friday_found']}/{d['friday_faces']} faces with both eyes visible found "
          f"(recall {d['friday_found'] / d['friday_faces']:.2f}; tophat {d['friday_tophat']}/13, operator "
          f"{d['friday_operator']}/5), {d['friday_false']} false detections")
    print(f"detection {NO_FACES}: {d['nofaces_false']} detections on {d['nofaces_samples']} samples "
          "(ground truth: no visible face)")

    # --- tracks, cost
    labels: list[str] = []
    found: dict[str, list] = {}
    tot_people = tot_decode = tot_media = 0.0
    for f in [*ASL, FRIDAY]:
        path = str(FOOTAGE / f)
        t0 = time.perf_counter()
        for _ in sample_frames(path, sampling_for(s)):
            pass
        dec = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = analyse_file(path, eng, s)
        took = time.perf_counter() - t0
        tot_people, tot_decode, tot_media = tot_people + took, tot_decode + dec, tot_media + r.seconds
        found[f] = r.tracks
        for tr in r.tracks:
            labels.append(ASL.get(f) or friday_label(tr.box) or "?")
        print(f"{f}: {r.frames} samples, {r.faces} faces, {len(r.tracks)} tracks; channel {took:.2f} s vs decode "
              f"{dec:.2f} s ({took / max(dec, 1e-9):.1f}x), {r.seconds / took:.1f} video-s per s")
    print(f"channel cost: {tot_people:.2f} s for {tot_media:.1f} s of video at {a.fps:g} fps = "
          f"{tot_people / max(tot_decode, 1e-9):.1f}x the decode pass ({tot_decode:.2f} s)")

    # --- distances
    vecs = [tr.vector for f in found for tr in found[f]]
    same = [float(np.linalg.norm(vecs[i] - vecs[j])) for i, j in combinations(range(len(vecs)), 2)
            if labels[i] == labels[j]]
    diff = [float(np.linalg.norm(vecs[i] - vecs[j])) for i, j in combinations(range(len(vecs)), 2)
            if labels[i] != labels[j]]
    print(f"track distances (unit vectors): same person max {max(same):.3f} (mean {np.mean(same):.3f}, "
          f"n={len(same)}); different people min {min(diff):.3f} (mean {np.mean(diff):.3f}, n={len(diff)})")

    # --- grouping: incremental clip by clip, then a re-grouping; threshold sweep
    print(f"labels of the {len(labels)} tracks: {labels}")
    for thr in sorted({0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, a.threshold}):
        with tempfile.TemporaryDirectory() as tmp:
            people = People(PeopleDB(Path(tmp) / "p.sqlite3"), thr)
            groups = []
            for f in found:
                groups += people.add(f, f, s.identity, found[f])
            inc = purity_completeness(labels, groups)
            people.regroup()
            rg = [r.person_id for r in people.db.tracks()]
            reg = purity_completeness(labels, rg)
        mark = "  <- default" if thr == a.threshold else ""
        print(f"threshold {thr:.2f}: incremental purity {inc[0]:.2f} completeness {inc[1]:.2f} "
              f"(pairwise precision {inc[2]:.2f} recall {inc[3]:.2f}), {len(set(groups))} people; "
              f"regrouped purity {reg[0]:.2f} completeness {reg[1]:.2f}, {len(set(rg))} people{mark}")


if __name__ == "__main__":
    main()
