"""Ingest: what is on disk and when a file is ready to index: discovery (disk vs catalog),
roots (the one "root offline" rule), fingerprint (content identity), filetype (never open a FIFO),
tries (a try's catalog writes).
"""
