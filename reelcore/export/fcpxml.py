"""FCPXML 1.9 (Final Cut Pro 10.5 and later: File > Import > XML), written here.

`otio-fcpx-xml-adapter` (1.0.0) writes version 1.8 with an empty `frameDuration` for 29.97 and
59.94 formats, asset-clips outside any library or event (Final Cut rejects the document), no
timecode format, and markers without their note. This writer makes one library > event >
project > sequence whose spine holds one asset-clip per moment, each with a marker (name = the
question, note = the evidence). Times are rational seconds on frame boundaries, as FCPXML wants;
an asset's `start` is its start timecode, so Final Cut shows the file's own timecode.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

VERSION = "1.9"


def _t(frames: int | float, rate: Fraction) -> str:
    """`frames` at `rate` as FCPXML rational seconds ("1001/30000s", "3600s")."""
    v = Fraction(round(frames)) / rate
    return f"{v.numerator}s" if v.denominator == 1 else f"{v.numerator}/{v.denominator}s"


def write_fcpxml(tl: otio.schema.Timeline) -> str:
    meta = tl.metadata.get("reelfind", {})
    rate = Fraction(*meta.get("rate", [25, 1]))
    drop = bool(meta.get("drop_frame"))
    files = meta.get("files", {})
    root = ET.Element("fcpxml", version=VERSION)
    resources = ET.SubElement(root, "resources")
    formats: dict[tuple[int, int], str] = {}

    def format_id(r: Fraction, size: tuple[int, int] | None) -> str:
        key = (r.numerator, r.denominator)
        if key not in formats:
            formats[key] = f"r{len(resources) + 1}"
            attrs = {"id": formats[key], "frameDuration": _t(1, r)}
            if size:
                attrs.update(width=str(size[0]), height=str(size[1]))
            ET.SubElement(resources, "format", attrs)
        return formats[key]

    tracks = tl.video_tracks()
    clips = list(tracks[0].find_clips()) if tracks else []
    first = files.get(clips[0].metadata["reelfind"]["path"], {}) if clips else {}
    seq_format = format_id(rate, tuple(first["size"]) if first.get("size") else None)
    assets: dict[str, str] = {}
    for clip in clips:
        path = clip.metadata["reelfind"]["path"]
        if path in assets:
            continue
        f = files.get(path, {})
        r = Fraction(*f.get("rate", [25, 1]))
        avail = clip.media_reference.available_range
        fid = format_id(r, tuple(f["size"]) if f.get("size") else None)
        assets[path] = f"r{len(resources) + 1}"
        asset = ET.SubElement(resources, "asset", {
            "id": assets[path], "name": clip.name, "start": _t(avail.start_time.value, r),
            "duration": _t(avail.duration.value, r), "hasVideo": "1", "format": fid, "videoSources": "1"})
        ET.SubElement(asset, "media-rep", kind="original-media", src=clip.media_reference.target_url)
    event = ET.SubElement(ET.SubElement(root, "library"), "event", name=f"reelfind: {tl.name}")
    project = ET.SubElement(event, "project", name=tl.name or "reelfind")
    start = round(tl.global_start_time.value) if tl.global_start_time else 0
    seq = ET.SubElement(project, "sequence", {"format": seq_format, "tcStart": _t(start, rate),
                                              "tcFormat": "DF" if drop else "NDF"})
    spine = ET.SubElement(seq, "spine")
    for clip in clips:
        path = clip.metadata["reelfind"]["path"]
        f = files.get(path, {})
        r = Fraction(*f.get("rate", [25, 1]))
        sr = clip.source_range
        info = clip.metadata["reelfind"]
        ac = ET.SubElement(spine, "asset-clip", {
            "ref": assets[path], "name": clip.name, "offset": _t(info["record_in"], rate),
            "start": _t(sr.start_time.value, r), "duration": _t(info["record_out"] - info["record_in"], rate),
            "tcFormat": "DF" if f.get("drop_frame") else "NDF"})
        for m in clip.markers:
            attrs = {"start": _t(m.marked_range.start_time.value, r), "duration": _t(1, r), "value": m.name}
            if m.comment:
                attrs["note"] = m.comment
            ET.SubElement(ac, "marker", attrs)
    end = clips[-1].metadata["reelfind"]["record_out"] if clips else start
    seq.set("duration", _t(end - start, rate))
    ET.indent(root, "    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(root, encoding="unicode") + "\n"
