"""FCP7 XML (xmeml 4; Premiere Pro's "Import… XML") through `otio-fcp-adapter`, then corrected.

The adapter (1.0.0) writes the sequence, clip items and files right, but three things wrong
for us, fixed here on its output:
- a drop-frame file's timecode comes out non-drop (its `_build_timecode` takes drop-frame from
  the rate and ignores the flag): the file's `<timecode>` gets its own string and `DF`, and the
  reel name where the file has one;
- clip markers get absolute frame numbers (start timecode included), where FCP7/Premiere count
  a clip item's marker `<in>`/`<out>` from the first frame of the media: made media-relative;
- a marker's comment is not written: added as `<comment>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from .timecode import frames_to_timecode


def write_fcp7(tl: otio.schema.Timeline) -> str:
    raw = otio.adapters.write_to_string(tl, "fcp_xml")
    root = ET.fromstring(raw)
    files = tl.metadata.get("reelfind", {}).get("files", {})
    tracks = tl.video_tracks()
    clips = list(tracks[0].find_clips()) if tracks else []
    items = root.findall(".//sequence/media/video/track/clipitem")
    for clip, item in zip(clips, items, strict=True):
        info = clip.metadata["reelfind"]
        f = files.get(info["path"], {})
        start = Fraction(*f.get("rate", [25, 1]))
        tc = item.find("./file/timecode")
        if tc is not None:
            first = int(tc.findtext("frame") or 0)
            string = tc.find("string")
            if string is not None:
                string.text = frames_to_timecode(first, start, bool(f.get("drop_frame")))
            fmt = tc.find("displayformat")
            if fmt is not None:
                fmt.text = "DF" if f.get("drop_frame") else "NDF"
            if f.get("reel") and tc.find("reel") is None:
                ET.SubElement(ET.SubElement(tc, "reel"), "name").text = f["reel"]
        first_frame = clip.media_reference.available_range.start_time.value
        for marker, el in zip(clip.markers, item.findall("marker"), strict=True):
            a = round(marker.marked_range.start_time.value - first_frame)
            el.find("in").text = str(a)  # type: ignore[union-attr]
            el.find("out").text = str(a + round(marker.marked_range.duration.value))  # type: ignore[union-attr]
            if marker.comment and el.find("comment") is None:
                el.insert(1, _text("comment", marker.comment))
    ET.indent(root, "    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(tag: str, text: str) -> ET.Element:
    el = ET.Element(tag)
    el.text = text
    return el
