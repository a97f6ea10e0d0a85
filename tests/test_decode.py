"""reelcore.media.decode: sampling, spans, cuts, rotation, timestamps and broken files."""

from __future__ import annotations

import contextlib
import csv
import os
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from reelcore.config import SamplingSettings
from reelcore.media.decode import DecodeError, DecodeReport, SampledFrame, probe, resolve_mode, sample_frames
from tests.synthetic import BLACK, BLUE, GREEN, GREY, RED, WHITE, YELLOW, make_clip, make_vfr_clip

FOOTAGE = Path(__file__).resolve().parents[1].parent / "shared" / "footage"
BAD = FOOTAGE / "bad"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}
FOOTAGE_FILES = sorted(p.name for p in FOOTAGE.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
needs_footage = pytest.mark.skipif(not FOOTAGE.is_dir(), reason=f"no footage at {FOOTAGE}")

S = SamplingSettings()


@cache
def _decoded(path: str) -> tuple[tuple[SampledFrame, ...], DecodeReport]:
    """Decode each footage file once per test session with default settings."""
    report = DecodeReport()
    return tuple(sample_frames(path, S, report)), report


def _sample(path: Path, sampling: SamplingSettings = S, **kw) -> tuple[list[SampledFrame], DecodeReport]:
    report = DecodeReport()
    return list(sample_frames(path, sampling, report, **kw)), report


def assert_contiguous(frames: list[SampledFrame] | tuple[SampledFrame, ...], end: float) -> None:
    assert frames, "no frames"
    assert frames[0].t_start == 0.0
    for a, b in zip(frames, frames[1:], strict=False):
        assert a.t_end == b.t_start
    for f in frames:
        assert f.t_end > f.t_start
        assert f.t_start <= f.t_frame < f.t_end
    assert frames[-1].t_end == pytest.approx(end, abs=1e-6)


# --------------------------------------------------------------------------- synthetic clips


def test_synthetic_hard_cuts_are_found_within_one_frame(tmp_path):
    fps = 25
    path = tmp_path / "cuts.mp4"
    cuts = make_clip(path, [(1.32, RED), (0.48, BLUE), (2.0, GREEN), (0.6, WHITE), (1.0, BLACK)], fps=fps)
    frames, report = _sample(path)

    cut_frames = [f for f in frames if f.is_cut]
    assert [f.t_start for f in cut_frames] == pytest.approx(cuts, abs=1 / fps + 1e-6)
    assert report.cuts == len(cuts)
    assert [f.shot for f in cut_frames] == list(range(1, len(cuts) + 1))
    # Shot index is constant between cuts and never decreases.
    assert [f.shot for f in frames] == sorted(f.shot for f in frames)
    assert_contiguous(frames, 5.40)


def test_one_frame_per_interval_plus_cut_frames(tmp_path):
    path = tmp_path / "moving.mp4"
    cuts = make_clip(path, [(2.5, GREY), (2.5, YELLOW)], motion=True)
    frames, _ = _sample(path)
    assert [f.t_start for f in frames] == pytest.approx([0.0, 1.0, 2.0, cuts[0], 3.0, 4.0])
    assert [f.is_cut for f in frames] == [False, False, False, True, False, False]


def test_interval_setting_changes_sampling_rate(tmp_path):
    path = tmp_path / "moving.mp4"
    make_clip(path, [(4.0, GREY)], motion=True)
    frames, _ = _sample(path, SamplingSettings(interval=0.4))
    assert [f.t_start for f in frames] == pytest.approx([0.4 * i for i in range(10)])


def test_static_clip_is_deduplicated_to_one_frame_spanning_it(tmp_path):
    path = tmp_path / "static.mp4"
    make_clip(path, [(5.0, GREY)])
    frames, report = _sample(path)
    assert len(frames) == 1
    assert (frames[0].t_start, frames[0].t_end) == (0.0, pytest.approx(5.0))
    assert report.frames_decoded == 125


def test_moving_clip_is_not_deduplicated(tmp_path):
    path = tmp_path / "moving.mp4"
    make_clip(path, [(5.0, GREY)], motion=True)
    frames, _ = _sample(path)
    assert len(frames) == 5


def test_dedup_threshold_zero_keeps_every_sample(tmp_path):
    path = tmp_path / "static.mp4"
    make_clip(path, [(3.0, GREY)])
    frames, _ = _sample(path, SamplingSettings(dedup_threshold=0))
    assert len(frames) == 3


def test_cut_frame_is_kept_even_if_identical_to_last_kept_frame(tmp_path):
    # Grey 100 slowly brightens (no cut) and then jumps back to grey 100 at frame 21: a hard cut
    # whose picture equals the last kept frame (frame 0). It must not be dropped as a duplicate.
    def picture(i: int) -> np.ndarray:
        level = 100 + 5 * i if i <= 20 else 100
        return np.full((120, 160, 3), level, np.uint8)

    path = tmp_path / "flash.mkv"
    make_vfr_clip(path, [i / 25 for i in range(30)], picture=picture)
    frames, _ = _sample(path)
    assert [(f.t_start, f.is_cut) for f in frames] == [(0.0, False), (pytest.approx(0.84), True)]


def test_detect_cuts_off_reports_no_cuts(tmp_path):
    path = tmp_path / "cuts.mp4"
    make_clip(path, [(0.5, RED), (0.5, BLUE)])
    frames, report = _sample(path, SamplingSettings(detect_cuts=False))
    assert report.cuts == 0 and not any(f.is_cut for f in frames)
    assert {f.shot for f in frames} == {0}


def test_small_video_is_not_upscaled_and_images_are_rgb(tmp_path):
    path = tmp_path / "small.mp4"
    make_clip(path, [(1.0, RED)], size=(160, 120))
    (frame,), _ = _sample(path)
    assert frame.image.mode == "RGB" and frame.image.size == (160, 120)
    r, g, b = frame.image.getpixel((5, 110))
    assert r > 180 and g < 80 and b < 80


def test_synthetic_rotation_is_applied_counter_clockwise(tmp_path):
    # Mark the coded top-left corner; a 90 degree (counter-clockwise) display rotation puts it
    # bottom-left and makes the picture portrait, as ffmpeg/players show it.
    def picture(i: int) -> np.ndarray:
        img = np.full((120, 160, 3), 40, np.uint8)
        img[:30, :30] = (230, 230, 230)
        return img

    path = tmp_path / "rot.mp4"
    make_clip(path, [(0.4, GREY)], rotation=90)  # segment content irrelevant; checks probe
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (120, 160, 90)

    path2 = tmp_path / "rot_marker.mp4"
    _make_rotated_marker(path2, picture)
    (frame,), _ = _sample(path2)
    img = np.asarray(frame.image.convert("L"))
    assert img.shape == (160, 120)  # portrait
    assert img[-10:, :10].mean() > 200 and img[:10, :10].mean() < 80


def _make_rotated_marker(path: Path, picture) -> None:
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        s.set_display_rotation(90)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def test_vfr_clip_times_are_the_exact_frame_times(tmp_path):
    times = [0.0, 0.1, 0.5, 0.52, 1.7, 2.9, 3.05]
    path = tmp_path / "vfr.mkv"
    make_vfr_clip(path, times)
    frames, _ = _sample(path)
    assert [f.t_frame for f in frames] == pytest.approx([0.0, 1.7, 2.9, 3.05])
    assert frames[-1].t_end > 3.05


def test_stream_without_timestamps_falls_back_to_frame_rate(tmp_path):
    path = tmp_path / "raw.h264"  # raw H.264: no container timestamps at all
    cuts = make_clip(path, [(1.0, RED), (1.0, BLUE), (1.0, GREEN)], motion=True)
    frames, report = _sample(path)
    assert [f.t_start for f in frames if f.is_cut] == pytest.approx(cuts, abs=0.041)
    assert_contiguous(frames, report.end)
    assert report.end == pytest.approx(3.0, abs=0.05)
    assert probe(path).duration is None


def test_mpeg4_avi_with_audio_probes_and_decodes(tmp_path):
    path = tmp_path / "clip.avi"
    make_clip(path, [(1.0, RED), (1.0, BLUE)], codec="mpeg4")
    info = probe(path)
    assert (info.codec, info.width, info.height, info.has_audio) == ("mpeg4", 160, 120, False)
    path2 = tmp_path / "clip.mp4"
    make_clip(path2, [(1.0, RED)], audio=True)
    assert probe(path2).has_audio
    frames, _ = _sample(path)
    assert [f.is_cut for f in frames] == [False, True]


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"),
    [
        ("mjpeg", "yuvj422p", ".avi"),  # full-range luma
        ("libx264", "yuv444p", ".mp4"),
        ("libx264", "yuv420p10le", ".mkv"),  # 10-bit: not the 8-bit luma fast path
        ("prores_ks", "yuv422p10le", ".mov"),
        ("png", "rgb24", ".mov"),
        ("libx264rgb", "bgr24", ".mkv"),  # decodes as planar gbrp
    ],
)
def test_odd_pixel_formats_give_true_colours_and_cuts(tmp_path, codec, pix_fmt, suffix):
    path = tmp_path / f"clip{suffix}"
    cuts = make_clip(path, [(1.0, RED), (0.6, BLUE), (1.0, GREEN)], codec=codec, pix_fmt=pix_fmt)
    frames, report = _sample(path)
    assert [f.t_start for f in frames if f.is_cut] == pytest.approx(cuts)
    for frame, colour in zip(frames, (RED, BLUE, GREEN), strict=True):
        assert frame.image.getpixel((5, 110)) == pytest.approx(colour, abs=6)
    assert_contiguous(frames, 2.6)


def test_audio_file_with_cover_art_has_no_video_stream(tmp_path):
    path = tmp_path / "song.m4a"
    with av.open(str(path), mode="w", format="mp4") as c:
        audio = c.add_stream("aac", rate=48000, layout="mono")
        cover = c.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        pic = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        pic = pic.reformat(format="yuvj420p")
        pic.pts = 0
        c.mux(cover.encode(pic))
        c.mux(cover.encode(None))
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * 1024
            c.mux(audio.encode(frame))
        c.mux(audio.encode(None))
    with pytest.raises(DecodeError, match=r"no video stream \(audio-only file\?\)"):
        probe(path)


@pytest.mark.parametrize(
    ("gop", "detect_cuts", "expected"),
    [(5, False, "nonkey"), (250, False, "nonref"), (5, True, "all")],
)
def test_auto_mode_skips_frames_only_when_cut_detection_is_off(tmp_path, gop, detect_cuts, expected):
    path = tmp_path / "gop.mp4"
    make_clip(path, [(4.0, GREY)], motion=True, gop=gop)
    sampling = SamplingSettings(detect_cuts=detect_cuts)
    assert resolve_mode(path, sampling, "auto") == expected
    frames, report = _sample(path, sampling, mode="auto")
    assert report.mode == expected and not report.partial
    assert_contiguous(frames, 4.0)
    if expected == "nonkey":
        assert report.frames_decoded < 100


@pytest.mark.parametrize("mode", ["nonref", "nonkey"])
def test_skip_modes_still_cover_the_whole_video(tmp_path, mode):
    path = tmp_path / "long_gop.mp4"
    make_clip(path, [(6.0, GREY)], motion=True, gop=250)  # one keyframe: nonkey decodes 1 frame
    frames, report = _sample(path, mode=mode)
    assert not report.partial
    assert_contiguous(frames, 6.0)


def test_unknown_codec_raises_unsupported_codec(tmp_path):
    good = tmp_path / "ffv1.avi"
    make_clip(good, [(0.2, RED)], codec="ffv1")
    bad = tmp_path / "unknown.avi"
    bad.write_bytes(good.read_bytes().replace(b"FFV1", b"XQZW"))  # a FourCC no decoder knows
    with pytest.raises(DecodeError, match="^unsupported codec"):
        probe(bad)
    with pytest.raises(DecodeError, match="^unsupported codec"):
        next(sample_frames(bad, S))


def test_errors_surface_at_first_next_not_later(tmp_path):
    path = tmp_path / "missing.mp4"
    it = sample_frames(path, S)
    with pytest.raises(DecodeError, match="file not found"):
        next(it)


def _fds_on(path: Path) -> int:
    """How many of this process's file descriptors refer to `path` (Linux /proc)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            n += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return n


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_stopping_iteration_early_closes_cleanly(tmp_path):
    """Closing the generator after one frame releases the file (the indexer stops decoders this way
    on SIGTERM, thousands of times in a long-lived service), ends the iteration, and leaves the
    report unfinished rather than claiming an end of video it never reached."""
    path = tmp_path / "m.mp4"
    make_clip(path, [(3.0, GREY)], motion=True)
    report = DecodeReport()
    it = sample_frames(path, S, report)
    first = next(it)
    assert first.t_start == 0.0 and _fds_on(path) == 1  # the container holds the file open
    it.close()
    assert _fds_on(path) == 0
    with pytest.raises(StopIteration):
        next(it)
    assert report.frames_sampled == 1 and report.end == 0.0 and not report.partial
    for _ in range(30):  # no descriptor leaks over many early stops
        g = sample_frames(path, S)
        next(g)
        g.close()
    assert _fds_on(path) == 0


# --------------------------------------------------------------------------- real footage


@needs_footage
@pytest.mark.parametrize("name", FOOTAGE_FILES)
def test_spans_are_contiguous_and_cover_the_duration(name):
    path = FOOTAGE / name
    info = probe(path)
    frames, report = _decoded(str(path))
    assert not report.partial, report.note
    assert_contiguous(frames, report.end)
    assert info.duration is not None
    assert report.end == pytest.approx(info.duration, abs=S.interval)
    for f in frames:
        assert f.image.mode == "RGB"
        assert min(f.image.size) == min(S.thumbnail_size, info.width, info.height)
        assert (f.image.width >= f.image.height) == (info.width >= info.height)
    # One frame per interval at most, plus cut frames.
    assert len(frames) <= int(report.end / S.interval) + 1 + report.cuts


@needs_footage
def test_rotated_footage_comes_out_portrait():
    path = FOOTAGE / "bee_rotate90.mp4"
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (720, 1280, 90)
    frames, report = _sample(path)
    assert frames and all(f.image.size == (256, 455) for f in frames)
    assert report.end == pytest.approx(4.038, abs=0.01)


@needs_footage
def test_vfr_footage_timestamps_are_monotonic_and_within_duration():
    path = FOOTAGE / "asl_eat_vfr.mp4"
    frames, report = _sample(path, SamplingSettings(dedup_threshold=0, interval=0.1))
    times = [f.t_frame for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[-1] < report.end <= 1.7
    assert report.frames_decoded == 28
    # Sparse part (every 3rd frame after 1.0 s, 0.1 s apart): every 0.1 s tick finds a new frame.
    assert times[-3:] == pytest.approx([1.3, 1.4, 1.5], abs=0.011)


def _scene_cuts() -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with open(FOOTAGE / "scene_cuts.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.setdefault(row["file"], []).append(float(row["cut_time_s"]))
    return out


@needs_footage
@pytest.mark.parametrize("name", ["big_buck_bunny_0_30.webm", "sintel_excerpt_a.mp4", "sintel_excerpt_b.mkv"])
def test_known_scene_cuts_are_detected_within_a_tenth_of_a_second(name):
    expected = _scene_cuts()[name]
    frames, report = _decoded(str(FOOTAGE / name))
    found = [f.t_start for f in frames if f.is_cut]
    assert found == pytest.approx(expected, abs=0.1)
    assert report.cuts == len(expected)
    assert frames[-1].shot == len(expected)


# --------------------------------------------------------------------------- broken files


@needs_footage
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("zero_bytes.mp4", "empty file (0 bytes)"),
        ("text_renamed.mp4", "not a video file: invalid data found when processing input"),
        ("audio_only.mp4", "no video stream (audio-only file?)"),
    ],
)
def test_unreadable_files_raise_decode_error_with_clear_reason(name, reason):
    with pytest.raises(DecodeError) as probe_err:
        probe(BAD / name)
    assert str(probe_err.value) == reason
    report = DecodeReport()
    with pytest.raises(DecodeError) as err:
        next(sample_frames(BAD / name, S, report))
    assert str(err.value) == reason
    assert report.frames_decoded == 0


@needs_footage
def test_truncated_file_yields_decodable_part_and_is_partial():
    frames, report = _sample(BAD / "truncated_half.mp4")
    assert report.partial
    assert "3.2 s of 6.2 s" in (report.note or "")
    assert 90 <= report.frames_decoded <= 96
    assert_contiguous(frames, report.end)
    assert 3.0 <= report.end <= 3.3
    assert len(frames) >= 3


@needs_footage
def test_corrupted_middle_keeps_going_past_decode_errors():
    frames, report = _sample(BAD / "corrupted_middle.mp4")
    assert report.decode_errors > 0 and not report.partial
    assert report.frames_decoded >= 170
    assert report.note and "decode errors" in report.note
    assert_contiguous(frames, report.end)
    assert report.end == pytest.approx(6.17, abs=0.05)


@needs_footage
def test_decode_errors_beyond_the_limit_stop_decoding_and_mark_partial():
    frames, report = _sample(BAD / "corrupted_middle.mp4", SamplingSettings(max_decode_errors=0))
    assert report.partial and report.decode_errors == 1
    assert "too many decode errors" in (report.note or "")
    assert frames and report.end < 6.0
    assert_contiguous(frames, report.end)


@needs_footage
def test_moov_at_end_decodes_like_the_original():
    frames, report = _sample(BAD / "moov_at_end.mp4")
    original, _ = _decoded(str(FOOTAGE / "friday.mp4"))
    assert not report.partial and report.frames_decoded == 185
    assert [f.t_start for f in frames] == pytest.approx([f.t_start for f in original], abs=1e-3)


@needs_footage
def test_one_frame_video_gives_exactly_one_frame_at_zero():
    frames, report = _sample(BAD / "one_frame.mp4")
    assert len(frames) == 1 and not report.partial
    assert frames[0].t_start == 0.0 and frames[0].t_end > 0


@needs_footage
def test_short_clip_gives_at_least_one_frame():
    frames, report = _sample(BAD / "short_0.4s.mp4")
    assert len(frames) >= 1 and not report.partial
    assert_contiguous(frames, report.end)
    assert report.end == pytest.approx(0.4, abs=0.05)
