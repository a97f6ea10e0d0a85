"""The `text` channel: what is written on screen (slates, titles, lower thirds, signs).

engine.py  the OCR engine (RapidOCR: PP-OCRv4 det + rec ONNX models from its wheel), warm, locked
frames.py  one PyAV decode pass: frame times, a small luma picture, RGB only for frames read
gate.py    which frames to read (first of a shot, after a change, at most/least every N s, a cheap
           text-presence test)
spans.py   readings of the same line in consecutive reads -> one record with a time span
match.py   word and phrase matching tolerant of OCR slips (0/O, 1/l/I, a letter), exact numbers
channel.py TextChannel: a file -> TextRecords (text, normalised box, confidence, t_start, t_end)
"""
