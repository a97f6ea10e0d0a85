"""Media: reading video files with PyAV: decode (sampling, shot cuts), decodeguard (stall watch),
ioerrors (which read errors are transient).
"""
